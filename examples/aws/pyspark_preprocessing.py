"""Distributed data processing using Apache Spark and SageMaker Processing, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker_processing/spark_distributed_data_processing/sagemaker-spark-processing.ipynb

The SageMaker SDK's ``PySparkProcessor``, unmodified: example 1 preprocesses the abalone data set with Spark
MLlib (string indexing, one-hot encoding, vector assembly, an 80/20 split), with Spark's event log sent to S3;
example 2 adds a Python dependency through ``submit_py_files`` (a UDF module); example 4 overrides Spark's
configuration with an EMR-style ``configuration``. Shipyard runs each job's ``smspark-submit`` on a local Spark
(the ``pyspark`` package on the server's Java). Adaptations are marked ``# SHIPYARD:``.
"""

import json
import logging
import os
from time import gmtime, strftime

import boto3
import numpy as np
import sagemaker
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.spark.processing import PySparkProcessor

sagemaker_logger = logging.getLogger("sagemaker")
sagemaker_logger.setLevel(logging.INFO)
sagemaker_logger.addHandler(logging.StreamHandler())

sagemaker_session = sagemaker.Session()
bucket = sagemaker_session.default_bucket()
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
s3 = boto3.client("s3")

os.makedirs("./data", exist_ok=True)
os.makedirs("./code", exist_ok=True)


# SHIPYARD: the notebook downloads abalone.csv from a public bucket (wget). No downloads at run time here: a
# generated file of the same schema (sex, seven measurements, rings), no header, as the original.
def generate_abalone(path, n=600, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], size=n)
    length = rng.uniform(0.1, 0.8, size=n)
    diameter = length * rng.uniform(0.7, 0.85, size=n)
    height = length * rng.uniform(0.2, 0.4, size=n)
    whole = 4 * length ** 3 * rng.uniform(0.8, 1.2, size=n)
    shucked, viscera, shell = whole * 0.43, whole * 0.22, whole * 0.29
    rings = np.clip(np.round(3 + 15 * shell + 8 * length + rng.normal(0, 1.5, size=n)), 1, 29)
    with open(path, "w") as f:
        for row in zip(sex, length, diameter, height, whole, shucked, viscera, shell, rings):
            f.write(row[0] + "," + ",".join(f"{v:.4f}" for v in row[1:-1]) + f",{int(row[-1])}\n")


generate_abalone("./data/abalone.csv")

# ----------------------------------------------------------------------------------------------------------------
# Example 1: Running a basic PySpark application
# ----------------------------------------------------------------------------------------------------------------

PREPROCESS = '''
from __future__ import print_function
from __future__ import unicode_literals

import argparse
import csv
import os
import shutil
import sys
import time

import pyspark
from pyspark.sql import SparkSession
from pyspark.ml import Pipeline
from pyspark.ml.feature import (
    OneHotEncoder,
    StringIndexer,
    VectorAssembler,
    VectorIndexer,
)
from pyspark.sql.functions import *
from pyspark.sql.types import (
    DoubleType,
    StringType,
    StructField,
    StructType,
)


def csv_line(data):
    r = ','.join(str(d) for d in data[1])
    return str(data[0]) + "," + r


def main():
    parser = argparse.ArgumentParser(description="app inputs and outputs")
    # SHIPYARD: local Spark has no s3:// file system (EMRFS / hadoop-aws are not in the pyspark package), so the
    # data comes and goes through the job's ProcessingInput and ProcessingOutput folders instead of S3 URIs.
    parser.add_argument("--input_path", type=str, help="input folder")
    parser.add_argument("--output_path", type=str, help="output folder")
    args = parser.parse_args()

    spark = SparkSession.builder.appName("PySparkApp").getOrCreate()

    # This is needed to save RDDs which is the only way to write nested Dataframes into CSV format
    spark.sparkContext._jsc.hadoopConfiguration().set("mapred.output.committer.class",
                                                      "org.apache.hadoop.mapred.FileOutputCommitter")

    # Defining the schema corresponding to the input data. The input data does not contain the headers
    schema = StructType([StructField("sex", StringType(), True),
                         StructField("length", DoubleType(), True),
                         StructField("diameter", DoubleType(), True),
                         StructField("height", DoubleType(), True),
                         StructField("whole_weight", DoubleType(), True),
                         StructField("shucked_weight", DoubleType(), True),
                         StructField("viscera_weight", DoubleType(), True),
                         StructField("shell_weight", DoubleType(), True),
                         StructField("rings", DoubleType(), True)])

    # Downloading the data from S3 into a Dataframe
    # SHIPYARD: read from the ProcessingInput's folder (see above).
    total_df = spark.read.csv(os.path.join(args.input_path, 'abalone.csv'), header=False, schema=schema)

    #StringIndexer on the sex column which has categorical value
    sex_indexer = StringIndexer(inputCol="sex", outputCol="indexed_sex")

    #one-hot-encoding is being performed on the string-indexed sex column (indexed_sex)
    sex_encoder = OneHotEncoder(inputCol="indexed_sex", outputCol="sex_vec")

    #vector-assembler will bring all the features to a 1D vector for us to save easily into CSV format
    assembler = VectorAssembler(inputCols=["sex_vec",
                                           "length",
                                           "diameter",
                                           "height",
                                           "whole_weight",
                                           "shucked_weight",
                                           "viscera_weight",
                                           "shell_weight"],
                                outputCol="features")

    # The pipeline comprises of the steps added above
    pipeline = Pipeline(stages=[sex_indexer, sex_encoder, assembler])

    # This step trains the feature transformers
    model = pipeline.fit(total_df)

    # This step transforms the dataset with information obtained from the previous fit
    transformed_total_df = model.transform(total_df)

    # Split the overall dataset into 80-20 training and validation
    (train_df, validation_df) = transformed_total_df.randomSplit([0.8, 0.2])

    # Convert the train dataframe to RDD to save in CSV format and upload to S3
    # SHIPYARD: written to the ProcessingOutput's folder, which the job uploads to S3 when it ends.
    train_rdd = train_df.rdd.map(lambda x: (x.rings, x.features))
    train_lines = train_rdd.map(csv_line)
    train_lines.saveAsTextFile(os.path.join(args.output_path, 'train'))

    # Convert the validation dataframe to RDD to save in CSV format and upload to S3
    validation_rdd = validation_df.rdd.map(lambda x: (x.rings, x.features))
    validation_lines = validation_rdd.map(csv_line)
    validation_lines.saveAsTextFile(os.path.join(args.output_path, 'validation'))


if __name__ == "__main__":
    main()
'''
with open("./code/preprocess.py", "w") as f:
    f.write(PREPROCESS)

# Upload the raw input dataset to a unique S3 location
timestamp_prefix = strftime("%Y-%m-%d-%H-%M-%S", gmtime())
prefix = "sagemaker/spark-preprocess-demo/{}".format(timestamp_prefix)
input_prefix_abalone = "{}/input/raw/abalone".format(prefix)
input_preprocessed_prefix_abalone = "{}/input/preprocessed/abalone".format(prefix)

sagemaker_session.upload_data(path="./data/abalone.csv", bucket=bucket, key_prefix=input_prefix_abalone)

# Run the processing job
spark_processor = PySparkProcessor(
    base_job_name="sm-spark",
    framework_version="2.4",
    role=role,
    instance_count=2,
    instance_type="ml.m5.xlarge",
    max_runtime_in_seconds=1200,
)

spark_processor.run(
    submit_app="./code/preprocess.py",
    # SHIPYARD: the S3 locations travel as a ProcessingInput and a ProcessingOutput (see the script above).
    inputs=[ProcessingInput(source="s3://{}/{}".format(bucket, input_prefix_abalone),
                            destination="/opt/ml/processing/input/abalone")],
    outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                              destination="s3://{}/{}".format(bucket, input_preprocessed_prefix_abalone))],
    arguments=["--input_path", "/opt/ml/processing/input/abalone",
               "--output_path", "/opt/ml/processing/output"],
    spark_event_logs_s3_uri="s3://{}/{}/spark_event_logs".format(bucket, prefix),
    logs=False
)

# Validate Data Processing Results
print("Top 5 rows from s3://{}/{}/train/".format(bucket, input_preprocessed_prefix_abalone))
# SHIPYARD: boto3 instead of the notebook's `!aws s3 cp ... - | head -n5`.
train_part = s3.get_object(Bucket=bucket, Key="{}/train/part-00000".format(input_preprocessed_prefix_abalone))
train_rows = train_part["Body"].read().decode().splitlines()
print("\n".join(train_rows[:5]))
assert train_rows and all(len(row.split(",")) == 10 for row in train_rows), "rings + 9 features per row"
events = s3.list_objects_v2(Bucket=bucket, Prefix="{}/spark_event_logs/".format(prefix)).get("KeyCount", 0)
print("Spark event log objects:", events)
assert events > 0

# SHIPYARD: spark_processor.start_history_server() / terminate_history_server() run AWS's Spark image under
# Docker on the notebook machine; they are left out (the event log above is what that history server reads).

# ----------------------------------------------------------------------------------------------------------------
# Example 2: Specify additional python and jar file dependencies
# ----------------------------------------------------------------------------------------------------------------

HELLO_APP = '''
import argparse
import time

# Import local module to test spark-submit--py-files dependencies
import hello_py_spark_udfs as udfs
from pyspark.sql import SparkSession, SQLContext
from pyspark.sql.functions import udf
from pyspark.sql.types import IntegerType
import time

if __name__ == "__main__":
    print("Hello World, this is PySpark!")

    parser = argparse.ArgumentParser(description="inputs and outputs")
    parser.add_argument("--input", type=str, help="path to input data")
    parser.add_argument("--output", required=False, type=str, help="path to output data")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("SparkTestApp").getOrCreate()
    sqlContext = SQLContext(spark.sparkContext)

    # Load test data set
    inputPath = args.input
    outputPath = args.output
    salesDF = spark.read.json(inputPath)
    salesDF.printSchema()

    salesDF.createOrReplaceTempView("sales")

    # Define a UDF that doubles an integer column
    # The UDF function is imported from local module to test spark-submit--py-files dependencies
    double_udf_int = udf(udfs.double_x, IntegerType())

    # Save transformed data set to disk
    salesDF.select("date", "sale", double_udf_int("sale").alias("sale_double")).write.json(outputPath)
'''
with open("./code/hello_py_spark_app.py", "w") as f:
    f.write(HELLO_APP)
with open("./code/hello_py_spark_udfs.py", "w") as f:
    f.write("def double_x(x):\n    return x + x\n")

# SHIPYARD: the notebook ships data/data.jsonl (sales by date); a generated file of the same shape.
rng = np.random.default_rng(1)
with open("./data/data.jsonl", "w") as f:
    for _ in range(500):
        f.write(json.dumps({"date": "2020-01-0{}".format(rng.integers(1, 8)), "sale": int(rng.integers(1, 1000))})
                + "\n")

# Define job input/output URIs
timestamp_prefix = strftime("%Y-%m-%d-%H-%M-%S", gmtime())
prefix = "sagemaker/spark-preprocess-demo/{}".format(timestamp_prefix)
input_prefix_sales = "{}/input/sales".format(prefix)
output_prefix_sales = "{}/output/sales".format(prefix)
input_s3_uri = "s3://{}/{}".format(bucket, input_prefix_sales)
output_s3_uri = "s3://{}/{}".format(bucket, output_prefix_sales)

sagemaker_session.upload_data(path="./data/data.jsonl", bucket=bucket, key_prefix=input_prefix_sales)

spark_processor = PySparkProcessor(
    base_job_name="sm-spark-udfs",
    framework_version="2.4",
    role=role,
    instance_count=2,
    instance_type="ml.m5.xlarge",
    max_runtime_in_seconds=1200,
)

spark_processor.run(
    submit_app="./code/hello_py_spark_app.py",
    submit_py_files=["./code/hello_py_spark_udfs.py"],
    # SHIPYARD: the S3 URIs travel as a ProcessingInput and a ProcessingOutput; Spark writes to a new folder
    # under the output's (pre-created) LocalPath, which is uploaded to output_s3_uri.
    inputs=[ProcessingInput(source=input_s3_uri, destination="/opt/ml/processing/input/sales")],
    outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=output_s3_uri)],
    arguments=["--input", "/opt/ml/processing/input/sales", "--output", "/opt/ml/processing/output/sales"],
    logs=False
)

# Validate Data Processing Results
print('Output files in {}'.format(output_s3_uri))
# SHIPYARD: boto3 instead of `!aws s3 ls`; the check that the notebook's reader does by eye.
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=output_prefix_sales + "/")["Contents"]]
print("\n".join(keys))
assert any(k.endswith("/sales/_SUCCESS") for k in keys)
doubled = [json.loads(line) for k in keys if k.endswith(".json")
           for line in s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()]
assert len(doubled) == 500 and all(row["sale_double"] == 2 * row["sale"] for row in doubled)

# ----------------------------------------------------------------------------------------------------------------
# Example 3: Run a Java/Scala Spark application
# ----------------------------------------------------------------------------------------------------------------
# SHIPYARD: left out: it runs ./code/spark-test-app.jar, a prebuilt jar that ships with the notebook's folder
# and is not part of this repository (SparkJarProcessor runs through the same smspark-submit).

# ----------------------------------------------------------------------------------------------------------------
# Example 4: Specifying additional Spark configuration
# ----------------------------------------------------------------------------------------------------------------

# Upload the raw input dataset to a unique S3 location
timestamp_prefix = strftime("%Y-%m-%d-%H-%M-%S", gmtime())
prefix = "sagemaker/spark-preprocess-demo/{}".format(timestamp_prefix)
input_prefix_abalone = "{}/input/raw/abalone".format(prefix)
input_preprocessed_prefix_abalone = "{}/input/preprocessed/abalone".format(prefix)

sagemaker_session.upload_data(path="./data/abalone.csv", bucket=bucket, key_prefix=input_prefix_abalone)

spark_processor = PySparkProcessor(
    base_job_name="sm-spark",
    framework_version="2.4",
    role=role,
    instance_count=2,
    instance_type="ml.m5.xlarge",
    max_runtime_in_seconds=1200,
)

configuration = [{
    "Classification": "spark-defaults",
    "Properties": {"spark.executor.memory": "2g", "spark.executor.cores": "1"},
}]

spark_processor.run(
    submit_app="./code/preprocess.py",
    # SHIPYARD: the S3 locations travel as a ProcessingInput and a ProcessingOutput (see example 1).
    inputs=[ProcessingInput(source="s3://{}/{}".format(bucket, input_prefix_abalone),
                            destination="/opt/ml/processing/input/abalone")],
    outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                              destination="s3://{}/{}".format(bucket, input_preprocessed_prefix_abalone))],
    arguments=["--input_path", "/opt/ml/processing/input/abalone",
               "--output_path", "/opt/ml/processing/output"],
    configuration=configuration,
    logs=False
)

# SHIPYARD: a check of what the notebook leaves to the reader: the job completed and wrote both splits.
job = spark_processor.latest_job.describe()
assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
split_keys = [o["Key"] for o in s3.list_objects_v2(
    Bucket=bucket, Prefix=input_preprocessed_prefix_abalone + "/").get("Contents", [])]
assert any("/train/part-" in k for k in split_keys) and any("/validation/part-" in k for k in split_keys)
print("pyspark_preprocessing: all examples done")
