from scenarios.process_data import *
