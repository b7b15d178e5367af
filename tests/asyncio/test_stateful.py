from scenarios.stateful import *
