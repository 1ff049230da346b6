"""An Introduction to SageMaker ObjectToVec model for MovieLens recommendation, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/object2vec_movie_recommendation/object2vec_movie_recommendation.ipynb

The notebook turns MovieLens 100k ratings into Object2Vec pairs ``{"in0": [user], "in1": [movie], "label":
rating}``, compares two baselines (global mean, per-user mean), trains Object2Vec to predict ratings
(``mean_squared_error``) and, on binarised labels, to recommend (``softmax``), deploys both models, scores the
validation pairs, and finally retrieves the nearest movie of a movie in the learned embedding space (a
request of ``{"in1": [movie]}`` instances answers ``embeddings``). Adaptations are marked ``# SHIPYARD:``.
"""

import copy
import csv
import json
import os
import random

import boto3
import numpy as np
import sagemaker
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import JSONSerializer

# SHIPYARD: the notebook downloads ml-100k.zip from files.grouplens.org (943 users, 1,682 movies, 100k
# ratings). No downloads at run time: the same files (ua.base, ua.test, u.item; tab-separated
# user, movie, rating, timestamp) are generated from hidden user and movie factors, 1-based ids as in
# MovieLens, smaller (200 users, 300 movies) so both trainings fit in a minute on a CPU.
N_USERS, N_MOVIES = 200, 300


def generate_movielens_like(folder, seed=0):
    rng = np.random.default_rng(seed)
    rank = 5
    U, V = rng.normal(size=(N_USERS + 1, rank)), rng.normal(size=(N_MOVIES + 1, rank))
    bu, bi = rng.normal(scale=0.4, size=N_USERS + 1), rng.normal(scale=0.5, size=N_MOVIES + 1)
    os.makedirs(folder, exist_ok=True)
    base, test = [], []
    for user in range(1, N_USERS + 1):
        movies = rng.choice(np.arange(1, N_MOVIES + 1), size=int(rng.integers(30, 70)), replace=False)
        for k, movie in enumerate(movies):
            raw = 3.5 + bu[user] + bi[movie] + 0.7 * U[user] @ V[movie] / np.sqrt(rank) + 0.5 * rng.normal()
            row = (user, int(movie), int(np.clip(np.round(raw), 1, 5)), 874965758 + k)
            (test if k < 10 else base).append(row)  # ua.test holds 10 ratings of every user, as MovieLens's
    for name, rows in (("ua.base", base), ("ua.test", test)):
        with open(os.path.join(folder, name), "w") as f:
            f.writelines("\t".join(map(str, r)) + "\n" for r in rows)
    with open(os.path.join(folder, "u.item"), "w", encoding="ISO-8859-1") as f:
        f.writelines(f"{m}|Movie {m} ({1950 + m % 50})|01-Jan-1995||" + "|0" * 19 + "\n"
                     for m in range(1, N_MOVIES + 1))


generate_movielens_like("ml-100k")
random.seed(0)  # SHIPYARD: a fixed seed, so a run is reproducible


## some utility functions (the notebook's own)

def load_csv_data(filename, delimiter, verbose=True):
    """
    input: a file readable as csv and separated by a delimiter
    and has format users - movies - ratings - etc
    output: a list, where each row of the list is of the form
    {'in0':userID, 'in1':movieID, 'label':rating}
    """
    to_data_list = list()
    users = list()
    movies = list()
    ratings = list()
    unique_users = set()
    unique_movies = set()
    with open(filename, "r") as csvfile:
        reader = csv.reader(csvfile, delimiter=delimiter)
        for count, row in enumerate(reader):  # noqa: B007 - the notebook's own loop
            to_data_list.append({"in0": [int(row[0])], "in1": [int(row[1])], "label": float(row[2])})
            users.append(row[0])
            movies.append(row[1])
            ratings.append(float(row[2]))
            unique_users.add(row[0])
            unique_movies.add(row[1])
    if verbose:
        print("In file {}, there are {} ratings".format(filename, len(ratings)))
        print("The ratings have mean: {}, median: {}, and variance: {}".format(
            round(np.mean(ratings), 2), round(np.median(ratings), 2), round(np.var(ratings), 2)))
        print("There are {} unique users and {} unique movies".format(len(unique_users), len(unique_movies)))
    return to_data_list


def csv_to_augmented_data_dict(filename, delimiter):
    """
    Input: a file that must be readable as csv and separated by delimiter (to make columns)
    has format users - movies - ratings - etc
    Output:
      Users dictionary: keys as user ID's; each key corresponds to a list of movie ratings by that user
      Movies dictionary: keys as movie ID's; each key corresponds a list of ratings of that movie by different users
    """
    to_users_dict = dict()
    to_movies_dict = dict()
    with open(filename, "r") as csvfile:
        reader = csv.reader(csvfile, delimiter=delimiter)
        for count, row in enumerate(reader):  # noqa: B007 - the notebook's own loop
            if row[0] not in to_users_dict:
                to_users_dict[row[0]] = [(row[1], row[2])]
            else:
                to_users_dict[row[0]].append((row[1], row[2]))
            if row[1] not in to_movies_dict:
                to_movies_dict[row[1]] = list(row[0])
            else:
                to_movies_dict[row[1]].append(row[0])
    return to_users_dict, to_movies_dict


def write_data_list_to_jsonl(data_list, to_fname):
    """
    Input: a data list, where each row of the list is a Python dictionary taking form
    {'in0':userID, 'in1':movieID, 'label':rating}
    Output: save the list as a jsonline file
    """
    # SHIPYARD: json.dumps per line instead of the jsonlines package (the same bytes, one less install)
    with open(to_fname, mode="w") as writer:
        for row in data_list:
            writer.write(json.dumps({"in0": row["in0"], "in1": row["in1"], "label": row["label"]}) + "\n")
    print("Created {} jsonline file".format(to_fname))


def data_list_to_inference_format(data_list, binarize=True, label_thres=3):
    """
    Input: a data list
    Output: test data and label, acceptable by SageMaker for inference
    """
    data_ = [({"in0": row["in0"], "in1": row["in1"]}, row["label"]) for row in data_list]
    data, label = zip(*data_)
    infer_data = {"instances": data}
    if binarize:
        label = get_binarized_label(list(label), label_thres)
    return infer_data, label


def get_binarized_label(data_list, thres):
    """
    Input: data list
    Output: a binarized data list for recommendation task
    """
    for i, row in enumerate(data_list):
        if type(row) is dict:
            if row["label"] > thres:
                data_list[i]["label"] = 1
            else:
                data_list[i]["label"] = 0
        else:
            if row > thres:
                data_list[i] = 1
            else:
                data_list[i] = 0
    return data_list


## Load data and shuffle
prefix = "ml-100k"
train_path = os.path.join(prefix, "ua.base")
valid_path = os.path.join(prefix, "ua.test")

train_data_list = load_csv_data(train_path, "\t")
random.shuffle(train_data_list)
validation_data_list = load_csv_data(valid_path, "\t")
random.shuffle(validation_data_list)

to_users_dict, to_movies_dict = csv_to_augmented_data_dict(train_path, "\t")

## Calculate min, max, median of number of movies per user
movies_per_user = [len(val) for key, val in to_users_dict.items()]
print("The min, max, and median 'movies per user' is {}, {}, and {}".format(
    np.amin(movies_per_user), np.amax(movies_per_user), np.median(movies_per_user)))
users_per_movie = [len(val) for key, val in to_movies_dict.items()]
print("The min, max, and median 'users per movie' is {}, {}, and {}".format(
    np.amin(users_per_movie), np.amax(users_per_movie), np.median(users_per_movie)))
# SHIPYARD: the notebook's histograms (matplotlib) are left out of a script

## Save training and validation data locally for rating-prediction (regression) task
write_data_list_to_jsonl(copy.deepcopy(train_data_list), "train_r.jsonl")
write_data_list_to_jsonl(copy.deepcopy(validation_data_list), "validation_r.jsonl")

## Save training and validation data locally for recommendation (classification) task
train_c = get_binarized_label(copy.deepcopy(train_data_list), 3.0)
valid_c = get_binarized_label(copy.deepcopy(validation_data_list), 3.0)
write_data_list_to_jsonl(train_c, "train_c.jsonl")
write_data_list_to_jsonl(valid_c, "validation_c.jsonl")

train_c_label = [row["label"] for row in train_c]
valid_c_label = [row["label"] for row in valid_c]
print("There are {} fraction of positive ratings in train_c.jsonl".format(
    np.count_nonzero(train_c_label) / len(train_c_label)))
print("There are {} fraction of positive ratings in validation_c.jsonl".format(
    np.sum(valid_c_label) / len(valid_c_label)))


# Rating prediction task
def get_mse_loss(res, labels):
    if type(res) is dict:
        res = res["predictions"]
    assert len(res) == len(labels), "result and label length mismatch!"
    loss = 0
    for row, label in zip(res, labels):
        if type(row) is dict:
            loss += (row["scores"][0] - label) ** 2
        else:
            loss += (row - label) ** 2
    return round(loss / float(len(labels)), 2)


valid_r_data, valid_r_label = data_list_to_inference_format(copy.deepcopy(validation_data_list), binarize=False)

## Baseline 1: the global rating average
train_r_label = [row["label"] for row in copy.deepcopy(train_data_list)]
bs1_prediction = round(np.mean(train_r_label), 2)
print("The Baseline 1 (global rating average) prediction is {}".format(bs1_prediction))
bs1_mse = get_mse_loss(len(valid_r_label) * [bs1_prediction], valid_r_label)
print("The validation mse loss of the Baseline 1 is {}".format(bs1_mse))


## Baseline 2: the user-averaged rating
def bs2_predictor(test_data, user_dict, is_classification=False, thres=3):
    test_data = copy.deepcopy(test_data["instances"])
    predictions = list()
    for row in test_data:
        userID = str(row["in0"][0])
        # predict movie ID based on local average of user's prediction
        local_movies, local_ratings = zip(*user_dict[userID])
        local_ratings = [float(score) for score in local_ratings]
        predictions.append(np.mean(local_ratings))
        if is_classification:
            predictions[-1] = int(predictions[-1] > 3)
    return predictions


bs2_prediction = bs2_predictor(valid_r_data, to_users_dict, is_classification=False)
print("The validation loss of the Baseline 2 (user-based rating average) is {}".format(
    get_mse_loss(bs2_prediction, valid_r_label)))

## Model training and inference
sess = sagemaker.Session()
# SHIPYARD: the notebook asks for '<Your bucket name>'; the session's default bucket here
bucket = sess.default_bucket()
input_prefix = "object2vec/movielens/input"
output_prefix = "object2vec/movielens/output"

s3_client = boto3.client("s3")
input_paths = {}
output_path = os.path.join("s3://", bucket, output_prefix)

for data_name in ["train", "validation"]:
    pre_key = os.path.join(input_prefix, "rating", f"{data_name}")
    fname = "{}_r.jsonl".format(data_name)
    data_path = os.path.join("s3://", bucket, pre_key, fname)
    s3_client.upload_file(fname, bucket, os.path.join(pre_key, fname))
    # SHIPYARD: SDK v2's TrainingInput in place of v1's s3_input (same arguments)
    input_paths[data_name] = TrainingInput(data_path, distribution="ShardedByS3Key",
                                           content_type="application/jsonlines")
    print("Uploaded {} data to {} and defined input path".format(data_name, data_path))

print("Trained model will be saved at", output_path)

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

## Get docker image of ObjectToVec algorithm
# SHIPYARD: SDK v2's image_uris.retrieve in place of v1's get_image_uri
container = image_uris.retrieve("object2vec", boto3.Session().region_name)

hyperparameters = {
    "_kvstore": "device",
    "_num_gpus": "auto",
    "_num_kv_servers": "auto",
    "bucket_width": 0,
    "early_stopping_patience": 3,
    "early_stopping_tolerance": 0.01,
    "enc0_cnn_filter_width": 3,
    "enc0_layers": "auto",
    "enc0_max_seq_len": 1,
    "enc0_network": "pooled_embedding",
    "enc0_token_embedding_dim": 32,  # SHIPYARD: 300 in the notebook (a CPU and 200 users)
    "enc0_vocab_size": N_USERS + 1,  # SHIPYARD: 944 in the notebook (943 MovieLens users + 1)
    "enc1_layers": "auto",
    "enc1_max_seq_len": 1,
    "enc1_network": "pooled_embedding",
    "enc1_token_embedding_dim": 32,  # SHIPYARD: 300 in the notebook
    "enc1_vocab_size": N_MOVIES + 1,  # SHIPYARD: 1684 in the notebook
    "enc_dim": 64,  # SHIPYARD: 1024 in the notebook
    "epochs": 10,  # SHIPYARD: 20 in the notebook (early stopping ends it sooner either way)
    "learning_rate": 0.001,
    "mini_batch_size": 64,
    "mlp_activation": "tanh",
    "mlp_dim": 64,  # SHIPYARD: 256 in the notebook
    "mlp_layers": 1,
    "num_classes": 2,
    "optimizer": "adam",
    "output_layer": "mean_squared_error",
}

## get estimator
# SHIPYARD: SDK v2 argument names (instance_count, instance_type) for v1's train_instance_count/_type
regressor = sagemaker.estimator.Estimator(container, role, instance_count=1, instance_type="ml.p2.xlarge",
                                          output_path=output_path, sagemaker_session=sess)

## set hyperparameters
regressor.set_hyperparameters(**hyperparameters)

## train the model
regressor.fit(input_paths, wait=False)  # SHIPYARD: wait below with a 1 s poll, not the SDK's 30 s
sess.logs_for_job(regressor.latest_training_job.name, wait=True, poll=1)

## create and deploy the model
# SHIPYARD: SDK v2 passes serializer/deserializer to deploy (v1: create_model(serializer=json_serializer, ...))
regression_model = regressor.create_model()
predictor = regression_model.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge",
                                    serializer=JSONSerializer(), deserializer=JSONDeserializer(),
                                    wait=False)  # SHIPYARD: wait below with a 1 s poll
sess.wait_for_endpoint(predictor.endpoint_name, poll=1)

# Send data to the endpoint to get predictions
prediction = predictor.predict(valid_r_data)
o2v_mse = get_mse_loss(prediction, valid_r_label)
print("The mean squared error on validation set is %.3f" % o2v_mse)
# SHIPYARD: a check in place of the notebook's "approximately 0.91" remark: better than the global average
assert o2v_mse < bs1_mse, (o2v_mse, bs1_mse)

# Recommendation task
for data_name in ["train", "validation"]:
    fname = "{}_c.jsonl".format(data_name)
    pre_key = os.path.join(input_prefix, "recommendation", f"{data_name}")
    data_path = os.path.join("s3://", bucket, pre_key, fname)
    s3_client.upload_file(fname, bucket, os.path.join(pre_key, fname))
    input_paths[data_name] = TrainingInput(data_path, distribution="ShardedByS3Key",
                                           content_type="application/jsonlines")
    print("Uploaded data to {}".format(data_path))

hyperparameters_c = {
    "_kvstore": "device",
    "_num_gpus": "auto",
    "_num_kv_servers": "auto",
    "bucket_width": 0,
    "early_stopping_patience": 3,
    "early_stopping_tolerance": 0.01,
    "enc0_cnn_filter_width": 3,
    "enc0_layers": "auto",
    "enc0_max_seq_len": 1,
    "enc0_network": "pooled_embedding",
    "enc0_token_embedding_dim": 32,  # SHIPYARD: 300 in the notebook
    "enc0_vocab_size": N_USERS + 1,  # SHIPYARD: 944 in the notebook
    "enc1_cnn_filter_width": 3,
    "enc1_layers": "auto",
    "enc1_max_seq_len": 1,
    "enc1_network": "pooled_embedding",
    "enc1_token_embedding_dim": 32,  # SHIPYARD: 300 in the notebook
    "enc1_vocab_size": N_MOVIES + 1,  # SHIPYARD: 1684 in the notebook
    "enc_dim": 64,  # SHIPYARD: 2048 in the notebook
    "epochs": 10,  # SHIPYARD: 20 in the notebook
    "learning_rate": 0.001,
    "mini_batch_size": 256,  # SHIPYARD: 2048 in the notebook (9,000 training pairs here, not 90,000)
    "mlp_activation": "relu",
    "mlp_dim": 64,  # SHIPYARD: 1024 in the notebook
    "mlp_layers": 1,
    "num_classes": 2,
    "optimizer": "adam",
    "output_layer": "softmax",
}

## get estimator
classifier = sagemaker.estimator.Estimator(container, role, instance_count=1, instance_type="ml.p2.xlarge",
                                           output_path=output_path, sagemaker_session=sess)

## set hyperparameters
classifier.set_hyperparameters(**hyperparameters_c)

## train, tune, and test the model
classifier.fit(input_paths, wait=False)  # SHIPYARD: wait below with a 1 s poll, not the SDK's 30 s
sess.logs_for_job(classifier.latest_training_job.name, wait=True, poll=1)

classification_model = classifier.create_model()
predictor_2 = classification_model.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge",
                                          serializer=JSONSerializer(), deserializer=JSONDeserializer(),
                                          wait=False)  # SHIPYARD: wait below with a 1 s poll
sess.wait_for_endpoint(predictor_2.endpoint_name, poll=1)

valid_c_data, valid_c_label = data_list_to_inference_format(copy.deepcopy(validation_data_list),
                                                            label_thres=3, binarize=True)
predictions = predictor_2.predict(valid_c_data)


def get_class_accuracy(res, labels, thres):
    if type(res) is dict:
        res = res["predictions"]
    assert len(res) == len(labels), "result and label length mismatch!"
    accuracy = 0
    for row, label in zip(res, labels):
        if type(row) is dict:
            if row["scores"][1] > thres:
                prediction = 1
            else:
                prediction = 0
            if label > thres:
                label = 1
            else:
                label = 0
            accuracy += 1 - (prediction - label) ** 2
    return accuracy / float(len(res))


accuracy = get_class_accuracy(predictions, valid_c_label, 0.5)
print("The accuracy on the binarized validation set is %.3f" % accuracy)
# SHIPYARD: a check in place of the notebook's "approximately 0.704" remark: better than always answering the
# majority class
majority = max(np.mean(valid_c_label), 1 - np.mean(valid_c_label))
assert accuracy > majority, (accuracy, majority)


## Movie retrieval in the embedding space
def get_movie_embedding_dict(movie_ids, trained_model):
    input_instances = list()
    for s_id in movie_ids:
        input_instances.append({"in1": [s_id]})
    data = {"instances": input_instances}
    movie_embeddings = trained_model.predict(data)
    embedding_dict = {}
    for s_id, row in zip(movie_ids, movie_embeddings["predictions"]):
        embedding_dict[s_id] = np.array(row["embeddings"])
    return embedding_dict


def load_movie_id_name_map(item_file):
    movieID_name_map = {}
    with open(item_file, "r", encoding="ISO-8859-1") as f:
        for row in f.readlines():
            row = row.strip()
            split = row.split("|")
            movie_id = split[0]
            movie_name = split[1]
            movieID_name_map[int(movie_id)] = movie_name
    return movieID_name_map


def get_nn_of_movie(movie_id, candidate_movie_ids, embedding_dict):
    movie_emb = embedding_dict[movie_id]
    min_dist = float("Inf")
    best_id = candidate_movie_ids[0]
    for idx, m_id in enumerate(candidate_movie_ids):  # noqa: B007 - the notebook's own loop
        candidate_emb = embedding_dict[m_id]
        curr_dist = np.linalg.norm(candidate_emb - movie_emb)
        if curr_dist < min_dist:
            best_id = m_id
            min_dist = curr_dist
    return best_id, min_dist


def get_unique_movie_ids(data_list):
    unique_movie_ids = set()
    for row in data_list:
        unique_movie_ids.add(row["in1"][0])
    return list(unique_movie_ids)


train_data_list = load_csv_data(train_path, "\t", verbose=False)
unique_movie_ids = get_unique_movie_ids(train_data_list)
embedding_dict = get_movie_embedding_dict(unique_movie_ids, predictor_2)
candidate_movie_ids = unique_movie_ids.copy()

# SHIPYARD: the notebook leaves '<movie id>' for the reader to fill in (it suggests 195, The Terminator);
# the first movie id of the generated data here
movie_id_to_examine = unique_movie_ids[0]
candidate_movie_ids.remove(movie_id_to_examine)
best_id, min_dist = get_nn_of_movie(movie_id_to_examine, candidate_movie_ids, embedding_dict)
movieID_name_map = load_movie_id_name_map("ml-100k/u.item")
print("The closest movie to {} in the embedding space is {}".format(movieID_name_map[movie_id_to_examine],
                                                                   movieID_name_map[best_id]))
candidate_movie_ids.append(movie_id_to_examine)

## clean up
# SHIPYARD: SDK v2's delete_endpoint(endpoint_name) (v1's predictor.endpoint is endpoint_name)
sess.delete_endpoint(predictor.endpoint_name)
sess.delete_endpoint(predictor_2.endpoint_name)
