from scenarios.readme_examples import *
