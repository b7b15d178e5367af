from scenarios.reprs import *
