from scenarios.executor_contract import *
