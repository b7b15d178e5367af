from scenarios.exactness import *
