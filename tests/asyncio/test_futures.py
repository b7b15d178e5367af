from scenarios.futures import *
