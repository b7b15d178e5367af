from scenarios.limits import *
