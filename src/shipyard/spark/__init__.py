"""SageMaker Spark: Estimator/Model stages on Spark DataFrames that train and host through the SageMaker API."""
