from scenarios.contexts import *
