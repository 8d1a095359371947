"""The results folder as data: the summary schema and its metric table, reading runs into
pandas, and the tuned-recipe files. Imports `core` only: reading needs no Keras."""
