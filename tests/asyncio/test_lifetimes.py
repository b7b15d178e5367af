from scenarios.lifetimes import *
