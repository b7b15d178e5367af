from scenarios.threads import *
