from scenarios.compat import *
