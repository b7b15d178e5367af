from scenarios.processes import *
