"""`mltools top`'s terminal UI (Textual): renders samples and dispatches keys.

Above the library: it imports the sampling layer, the GPU and process
functions and the process stopper; no library module imports it. Textual is
imported only here, so `mltools --help` and `mltools gpu` never load it.
"""
