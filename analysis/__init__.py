"""Statistics for reader studies: metrics, agreement, ROC/DeLong, MRMC, bootstrap and the
human-vs-machine comparison. Pure numpy/scipy/statsmodels: this package never imports Django."""
