"""Text Classification using SageMaker BlazingText (DBpedia), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/blazingtext_text_classification_dbpedia/blazingtext_text_classification_dbpedia.ipynb

The notebook turns the DBpedia ontology data set (14 classes) into ``__label__<class> tokens ...`` lines, trains
built-in BlazingText in ``supervised`` mode through the generic Estimator and image_uris.retrieve("blazingtext")
with train and validation channels, deploys the model and classifies two sentences, first with the top label,
then with the top two (``"configuration": {"k": 2}``). Adaptations are marked ``# SHIPYARD:``.
"""

import json
import random
import re

import boto3
import sagemaker

sess = sagemaker.Session()

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sess.default_bucket()
prefix = "blazingtext/supervised"

region_name = boto3.Session().region_name

# SHIPYARD: the notebook downloads dbpedia_csv.tar.gz (560,000 training and 70,000 test articles). No downloads
# at run time: generated "articles" of the same 14 classes, each mixing words typical of its class with words
# shared by all, in DBpedia's CSV layout (class index, title, abstract) with its classes.txt.
CLASSES = ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
           "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]
TOPICAL = {
    "Company": "company manufacturing founded corporation products industry headquartered aircraft business firm",
    "EducationalInstitution": "school college secondary university students campus education academy founded "
                              "suburb",
    "Artist": "artist singer painter musician songwriter born band album performer recorded",
    "Athlete": "footballer player league team played season born professional club championship",
    "OfficeHolder": "politician served member elected party minister president parliament born governor",
    "MeanOfTransportation": "ship aircraft launched built navy class locomotive vessel engine spacecraft",
    "Building": "building church house tower constructed built historic hotel located architecture",
    "NaturalPlace": "river mountain lake located flows peak tributary range valley island",
    "Village": "village population census district located municipality county rural gmina commune",
    "Animal": "species genus family moth snail described found beetle marine endemic",
    "Plant": "plant species genus flowering family native shrub endemic grows leaves",
    "Album": "album released studio recorded band songs label tracks debut singer",
    "Film": "film directed starring released drama comedy produced written screenplay movie",
    "WrittenWork": "novel book published written author magazine series newspaper story edition",
}
SHARED = ("the a of in and is was an to by for it which on as with its from at that later into known first "
          "american also one two new after most major rockets outer metropolitan situated expanded").split()
rng = random.Random(0)


def make_article(index: int) -> tuple[str, str, str]:
    cls = CLASSES[index - 1]
    words = [rng.choice(TOPICAL[cls].split()) if rng.random() < 0.4 else rng.choice(SHARED) for _ in range(25)]
    return str(index), f"{cls} {rng.randint(1, 9999)}", " ".join(words) + " ."


def write_csv(path: str, n: int) -> None:
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        for _ in range(n):
            writer.writerow(make_article(rng.randint(1, len(CLASSES))))


write_csv("train.csv", 100_000)  # SHIPYARD: generated, in place of dbpedia_csv/train.csv (560,000 rows)
write_csv("test.csv", 5_000)  # SHIPYARD: generated, in place of dbpedia_csv/test.csv (70,000 rows)
with open("classes.txt", "w") as f:
    f.write("\n".join(CLASSES) + "\n")

index_to_label = {}
with open("classes.txt") as f:
    for i, label in enumerate(f.readlines()):
        index_to_label[str(i + 1)] = label.strip()
print(index_to_label)


def word_tokenize(text):
    # SHIPYARD: nltk.word_tokenize needs nltk and its punkt model (a download); this regex splits words and
    # punctuation the same way for these sentences.
    return re.findall(r"\w+|[^\w\s]", text)


def transform_instance(row):
    cur_row = []
    label = "__label__" + index_to_label[row[0]]  # Prefix the index-ed label with __label__
    cur_row.append(label)
    cur_row.extend(word_tokenize(row[1].lower()))
    cur_row.extend(word_tokenize(row[2].lower()))
    return cur_row


def preprocess(input_file, output_file, keep=1):
    import csv

    all_rows = []
    with open(input_file, "r") as csvinfile:
        csv_reader = csv.reader(csvinfile, delimiter=",")
        for row in csv_reader:
            all_rows.append(row)
    rng.shuffle(all_rows)  # SHIPYARD: seeded, so that every run trains on the same order
    all_rows = all_rows[: int(keep * len(all_rows))]
    # SHIPYARD: the notebook maps transform_instance over a multiprocessing Pool; a plain map is enough here.
    transformed_rows = list(map(transform_instance, all_rows))
    with open(output_file, "w") as csvoutfile:
        csv_writer = csv.writer(csvoutfile, delimiter=" ", lineterminator="\n")
        csv_writer.writerows(transformed_rows)


# Preparing the training dataset; since preprocessing the whole dataset might take a couple of minutes,
# we keep 20% of the training dataset for this demo
preprocess("train.csv", "dbpedia.train", keep=0.2)
# Preparing the validation dataset
preprocess("test.csv", "dbpedia.validation")

train_channel = prefix + "/train"
validation_channel = prefix + "/validation"
sess.upload_data(path="dbpedia.train", bucket=bucket, key_prefix=train_channel)
sess.upload_data(path="dbpedia.validation", bucket=bucket, key_prefix=validation_channel)
s3_train_data = "s3://{}/{}".format(bucket, train_channel)
s3_validation_data = "s3://{}/{}".format(bucket, validation_channel)
s3_output_location = "s3://{}/{}/output".format(bucket, prefix)

container = sagemaker.image_uris.retrieve("blazingtext", region_name, "1")
print("Using SageMaker BlazingText container: {} ({})".format(container, region_name))

bt_model = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.c4.4xlarge",
    volume_size=30,
    max_run=360000,
    input_mode="File",
    output_path=s3_output_location,
    hyperparameters={
        "mode": "supervised",
        "epochs": 10,  # SHIPYARD: 10 (20,000 generated documents; early stopping with min_epochs 5, patience 4)
        "min_count": 2,
        "learning_rate": 0.05,
        "vector_dim": 10,
        "early_stopping": True,
        "patience": 4,
        "min_epochs": 5,
        "word_ngrams": 2,
    },
)

train_data = sagemaker.inputs.TrainingInput(s3_train_data, distribution="FullyReplicated",
                                            content_type="text/plain", s3_data_type="S3Prefix")
validation_data = sagemaker.inputs.TrainingInput(s3_validation_data, distribution="FullyReplicated",
                                                 content_type="text/plain", s3_data_type="S3Prefix")
data_channels = {"train": train_data, "validation": validation_data}

bt_model.fit(inputs=data_channels, logs=True)

text_classifier = bt_model.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge",
                                  serializer=sagemaker.serializers.JSONSerializer())

sentences = [
    "Convair was an american aircraft manufacturing company which later expanded into rockets and spacecraft.",
    "Berwick secondary college is situated in the outer melbourne metropolitan suburb of berwick .",
]

# using the same nltk tokenizer that we used during data preparation for training
tokenized_sentences = [" ".join(word_tokenize(sent)) for sent in sentences]

payload = {"instances": tokenized_sentences}

response = text_classifier.predict(payload)

predictions = json.loads(response)
print(json.dumps(predictions, indent=2))

payload = {"instances": tokenized_sentences, "configuration": {"k": 2}}

response = text_classifier.predict(payload)

predictions = json.loads(response)
print(json.dumps(predictions, indent=2))

# SHIPYARD: checks in place of reading the printed answers.
assert [len(p["label"]) for p in predictions] == [2, 2], predictions
assert predictions[0]["label"][0] == "__label__Company", predictions
assert predictions[1]["label"][0] == "__label__EducationalInstitution", predictions

text_classifier.delete_endpoint()
