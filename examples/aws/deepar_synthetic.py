"""Time series forecasting with DeepAR - Synthetic data, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/deepar_synthetic/deepar_synthetic.ipynb

The notebook generates hourly series (a level, a daily sine and noise), writes the training series (the last
``prediction_length`` points held back) and the full series as JSON Lines to S3, trains the built-in DeepAR
through the generic Estimator and ``image_uris.retrieve("forecasting-deepar")`` with a test channel, creates an
endpoint from the training job, and asks a custom ``DeepARPredictor`` for the 10 %, 50 % and 90 % quantiles of
the held-back range. Adaptations are marked ``# SHIPYARD:``.
"""

import json
import time

import boto3
import numpy as np
import pandas as pd
import sagemaker

np.random.seed(1)

prefix = "sagemaker/DEMO-deepar"

sagemaker_session = sagemaker.Session()
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker_session.default_bucket()

s3_data_path = f"{bucket}/{prefix}/data"
s3_output_path = f"{bucket}/{prefix}/output"

image_name = sagemaker.image_uris.retrieve("forecasting-deepar", boto3.Session().region_name)

freq = "H"
pandas_freq = "h"  # SHIPYARD: pandas 3 spells the hourly frequency "h" ("H" is DeepAR's time_freq spelling)
prediction_length = 48

context_length = 72

t0 = "2016-01-01 00:00:00"
data_length = 400
num_ts = 50  # SHIPYARD: 200 series in the notebook; 50 keep the example within a minute or two on a laptop
period = 24

time_series = []
for k in range(num_ts):  # noqa: B007 - the notebook's loop
    level = 10 * np.random.rand()
    seas_amplitude = (0.1 + 0.3 * np.random.rand()) * level
    sig = 0.05 * level  # noise parameter (constant in time)
    time_ticks = np.array(range(data_length))
    source = level + seas_amplitude * np.sin(time_ticks * (2 * np.pi) / period)
    noise = sig * np.random.randn(data_length)
    data = source + noise
    index = pd.date_range(start=t0, freq=pandas_freq, periods=data_length)
    time_series.append(pd.Series(data=data, index=index))

# SHIPYARD: the notebook plots time_series[0] here (matplotlib); a script prints a summary instead.
print(f"{len(time_series)} series of {data_length} points; first: {time_series[0].head(3).tolist()}")

time_series_training = []
for ts in time_series:
    time_series_training.append(ts[:-prediction_length])


def series_to_obj(ts, cat=None):
    obj = {"start": str(ts.index[0]), "target": list(ts)}
    if cat is not None:
        obj["cat"] = cat
    return obj


def series_to_jsonline(ts, cat=None):
    return json.dumps(series_to_obj(ts, cat))


encoding = "utf-8"
s3 = boto3.client("s3")


def write_to_s3(lines, key):
    # SHIPYARD: the notebook writes through s3fs (S3FileSystem().open); boto3's put_object writes the same
    # bytes without the extra package.
    body = "".join(line + "\n" for line in lines).encode(encoding)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


write_to_s3([series_to_jsonline(ts) for ts in time_series_training], f"{prefix}/data/train/train.json")
write_to_s3([series_to_jsonline(ts) for ts in time_series], f"{prefix}/data/test/test.json")

estimator = sagemaker.estimator.Estimator(
    sagemaker_session=sagemaker_session,
    image_uri=image_name,
    role=role,
    instance_count=1,
    instance_type="ml.c4.xlarge",
    base_job_name="DEMO-deepar",
    output_path=f"s3://{s3_output_path}",
)

hyperparameters = {
    "time_freq": freq,
    "context_length": str(context_length),
    "prediction_length": str(prediction_length),
    "num_cells": "40",
    "num_layers": "3",
    "likelihood": "gaussian",
    "epochs": "4",  # SHIPYARD: 20 in the notebook; fewer epochs keep the example short on a CPU
    "mini_batch_size": "32",
    "learning_rate": "0.001",
    "dropout_rate": "0.05",
    "early_stopping_patience": "10",
}

estimator.set_hyperparameters(**hyperparameters)

data_channels = {"train": f"s3://{s3_data_path}/train/", "test": f"s3://{s3_data_path}/test/"}

estimator.fit(inputs=data_channels, wait=False)  # SHIPYARD: wait below with a 1 s poll, not the SDK's 30 s
sagemaker_session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)

job_name = estimator.latest_training_job.name

endpoint_name = sagemaker_session.endpoint_from_job(
    job_name=job_name,
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",
    image_uri=image_name,
    role=role,
    wait=False,  # SHIPYARD: wait below with a 1 s poll
)
sagemaker_session.wait_for_endpoint(endpoint_name, poll=1)


class DeepARPredictor(sagemaker.predictor.Predictor):
    def set_prediction_parameters(self, freq, prediction_length):
        """Set the time frequency and prediction length parameters. This method **must** be called
        before being able to use `predict`."""
        self.freq = freq
        self.prediction_length = prediction_length

    def predict(self, ts, cat=None, encoding="utf-8", num_samples=100, quantiles=["0.1", "0.5", "0.9"]):  # noqa: B006
        prediction_times = [x.index[-1] + pd.Timedelta(1, unit=self.freq) for x in ts]
        req = self.__encode_request(ts, cat, encoding, num_samples, quantiles)
        res = super(DeepARPredictor, self).predict(req, initial_args={"ContentType": "application/json"})
        return self.__decode_response(res, prediction_times, encoding)

    def __encode_request(self, ts, cat, encoding, num_samples, quantiles):
        instances = [series_to_obj(ts[k], cat[k] if cat else None) for k in range(len(ts))]
        configuration = {"num_samples": num_samples, "output_types": ["quantiles"], "quantiles": quantiles}
        http_request_data = {"instances": instances, "configuration": configuration}
        return json.dumps(http_request_data).encode(encoding)

    def __decode_response(self, response, prediction_times, encoding):
        response_data = json.loads(response.decode(encoding))
        list_of_df = []
        for k in range(len(prediction_times)):
            prediction_index = pd.date_range(start=prediction_times[k], freq=self.freq, periods=self.prediction_length)
            list_of_df.append(pd.DataFrame(data=response_data["predictions"][k]["quantiles"], index=prediction_index))
        return list_of_df


predictor = DeepARPredictor(endpoint_name=endpoint_name, sagemaker_session=sagemaker_session)
predictor.set_prediction_parameters(pandas_freq, prediction_length)  # SHIPYARD: pandas' "h" (see above)

list_of_df = predictor.predict(time_series_training[:5])
actual_data = time_series[:5]

# SHIPYARD: the notebook plots each forecast's 80 % interval and median against the actual data; a script
# prints how often the actual values fall inside the 10 % .. 90 % band, and the median's absolute error.
for k in range(len(list_of_df)):
    actual = actual_data[k][-prediction_length:]
    p10, p50, p90 = list_of_df[k]["0.1"], list_of_df[k]["0.5"], list_of_df[k]["0.9"]
    inside = float(((actual.values >= p10.values) & (actual.values <= p90.values)).mean())
    mae = float(np.abs(actual.values - p50.values).mean())
    print(f"series {k}: {inside:.0%} of the actual values inside the 80% interval, median MAE {mae:.3f}")
assert len(list_of_df) == 5 and all(len(df) == prediction_length for df in list_of_df)

sagemaker_session.delete_endpoint(endpoint_name)
time.sleep(0)  # SHIPYARD: nothing to wait for; the endpoint is deleted at once
