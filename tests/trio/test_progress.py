from scenarios.progress import *
