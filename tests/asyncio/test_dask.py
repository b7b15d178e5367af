from scenarios.dask import *
