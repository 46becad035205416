"""Learning-rate schedules Keras lacks, as `keras.optimizers.schedules.LearningRateSchedule` subclasses."""
