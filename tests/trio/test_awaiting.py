from scenarios.awaiting import *
