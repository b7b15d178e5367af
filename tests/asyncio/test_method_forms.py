from scenarios.method_forms import *
