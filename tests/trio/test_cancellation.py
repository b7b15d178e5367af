from scenarios.cancellation import *
