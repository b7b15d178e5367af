from scenarios.streams import *
