"""EMR-style application configuration -> what a local ``spark-submit`` reads: ``--conf`` pairs, environment
variables and files for a private ``SPARK_CONF_DIR``.

The SageMaker SDK's ``PySparkProcessor.run(configuration=...)`` uploads a JSON list (or one dict) of
``{"Classification", "Properties", "Configurations"}`` and hands it to the job as the input ``conf`` at
``/opt/ml/processing/input/conf/configuration.json``. AWS's ``smspark-submit`` writes each classification into
the Hadoop/Spark/Hive file it names, then starts YARN. Shipyard runs Spark in local mode (no YARN, no Hive
daemons), so each classification goes where a local Spark still reads it:

=====================================  ===================================================================
``spark-defaults``                     ``--conf key=value`` (one per property; the user's value wins)
``core-site``, ``hive-site``,          ``--conf spark.hadoop.key=value`` (Spark copies ``spark.hadoop.*``
``spark-hive-site``                    into the Hadoop configuration that file systems and Hive read)
``spark-env``, ``hadoop-env``,         environment variables of ``spark-submit`` (their nested ``export``
``yarn-env``, ``hive-env``             configurations, as on EMR)
``spark-log4j``                        ``log4j2.properties`` (Spark 4 logs through log4j 2: log4j 1 keys
                                       such as ``log4j.rootCategory`` / ``log4j.logger.X`` are translated)
``spark-metrics``                      ``metrics.properties``
``yarn-site``, ``hadoop-log4j``,       nothing runs that reads them: listed in :attr:`SparkSettings.ignored`
``hive-log4j``, ``hive-exec-log4j``    (the job's log says so)
=====================================  ===================================================================

Pure: parsing and rendering only, no I/O; a malformed configuration raises :class:`ConfigurationError`, whose
message names the entry and the fix (the job fails with it as its exit message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EMR_CONFIGURE_APPS_URL = "https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-configure-apps.html"

# The classifications the SDK accepts (SparkConfigUtils._valid_configuration_classifications), by what we do.
CONF_CLASSIFICATIONS = ("spark-defaults",)
HADOOP_CLASSIFICATIONS = ("core-site", "hive-site", "spark-hive-site")
ENV_CLASSIFICATIONS = ("spark-env", "hadoop-env", "yarn-env", "hive-env")
FILE_CLASSIFICATIONS = {"spark-log4j": "log4j2.properties", "spark-metrics": "metrics.properties"}
IGNORED_CLASSIFICATIONS = {
    "yarn-site": "no YARN runs in local mode",
    "hadoop-log4j": "no Hadoop daemon runs in local mode (Spark's own logging is spark-log4j)",
    "hive-log4j": "no Hive daemon runs in local mode (Spark's own logging is spark-log4j)",
    "hive-exec-log4j": "no Hive daemon runs in local mode (Spark's own logging is spark-log4j)",
}
EXPORT = "export"
VALID_CLASSIFICATIONS = (CONF_CLASSIFICATIONS + HADOOP_CLASSIFICATIONS + ENV_CLASSIFICATIONS
                         + tuple(FILE_CLASSIFICATIONS) + tuple(IGNORED_CLASSIFICATIONS) + (EXPORT,))

# Spark's own console logging (its log4j2-defaults.properties), the base a spark-log4j classification edits.
LOG4J2_DEFAULTS = {
    "rootLogger.level": "info",
    "rootLogger.appenderRef.stdout.ref": "console",
    "appender.console.type": "Console",
    "appender.console.name": "console",
    "appender.console.target": "SYSTEM_ERR",
    "appender.console.layout.type": "PatternLayout",
    "appender.console.layout.pattern": "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex",
}


class ConfigurationError(ValueError):
    """The configuration.json a job was given cannot be applied; the message says which entry and why."""


@dataclass(frozen=True)
class Classification:
    """One EMR configuration entry: ``Classification``, ``Properties`` and nested ``Configurations``."""

    name: str
    properties: dict[str, str]
    children: tuple["Classification", ...] = ()


@dataclass
class SparkSettings:
    """What the configuration asks of a local ``spark-submit``."""

    conf: dict[str, str] = field(default_factory=dict)        # --conf key=value
    env: dict[str, str] = field(default_factory=dict)         # variables of the spark-submit process
    files: dict[str, str] = field(default_factory=dict)       # file name in SPARK_CONF_DIR -> text
    ignored: list[str] = field(default_factory=list)          # "yarn-site: no YARN runs in local mode"
    notes: list[str] = field(default_factory=list)            # what was translated or dropped, for the log


def parse(document: Any) -> list[Classification]:
    """The entries of a configuration.json document (a list of entries, or one entry as a dict)."""
    items = document if isinstance(document, list) else [document]
    return [_entry(item, f"configuration[{i}]") for i, item in enumerate(items)]


def _entry(item: Any, where: str) -> Classification:
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} is {type(item).__name__}, not an object with Classification and "
                                 f"Properties; see {EMR_CONFIGURE_APPS_URL}.")
    unknown = sorted(set(item) - {"Classification", "Properties", "Configurations"})
    if unknown:
        raise ConfigurationError(f"{where} has unknown key(s) {', '.join(unknown)}: an entry holds only "
                                 f"Classification, Properties and Configurations; see {EMR_CONFIGURE_APPS_URL}.")
    name = item.get("Classification")
    if name not in VALID_CLASSIFICATIONS:
        raise ConfigurationError(f"{where} has Classification {name!r}; use one of "
                                 f"{', '.join(VALID_CLASSIFICATIONS)}.")
    props = item.get("Properties") or {}
    if not isinstance(props, dict):
        raise ConfigurationError(f"{where} ({name}): Properties must be an object of names to values.")
    nested = item.get("Configurations") or []
    if not isinstance(nested, list):
        raise ConfigurationError(f"{where} ({name}): Configurations must be a list of entries.")
    children = tuple(_entry(c, f"{where}.Configurations[{j}]") for j, c in enumerate(nested))
    return Classification(name, {str(k): _text(v) for k, v in props.items()}, children)


def _text(value: Any) -> str:
    """A property value as the file it lands in spells it (JSON booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings(entries: list[Classification]) -> SparkSettings:
    """Render parsed entries; later entries override earlier ones, key by key."""
    out = SparkSettings()
    log4j: dict[str, str] = {}
    metrics: dict[str, str] = {}
    for entry in entries:
        if entry.name in CONF_CLASSIFICATIONS:
            out.conf.update(entry.properties)
        elif entry.name in HADOOP_CLASSIFICATIONS:
            out.conf.update({f"spark.hadoop.{k}": v for k, v in entry.properties.items()})
        elif entry.name in ENV_CLASSIFICATIONS or entry.name == EXPORT:
            out.env.update(_exports(entry))
        elif entry.name == "spark-log4j":
            log4j.update(_log4j2(entry.properties, out.notes))
        elif entry.name == "spark-metrics":
            metrics.update(entry.properties)
        else:
            out.ignored.append(f"{entry.name}: {IGNORED_CLASSIFICATIONS[entry.name]}")
    if log4j:
        out.files[FILE_CLASSIFICATIONS["spark-log4j"]] = properties_text({**LOG4J2_DEFAULTS, **log4j})
    if metrics:
        out.files[FILE_CLASSIFICATIONS["spark-metrics"]] = properties_text(metrics)
    return out


def _exports(entry: Classification) -> dict[str, str]:
    """An ``*-env`` entry's variables: the properties of its nested ``export`` entries (EMR's shape)."""
    if entry.name == EXPORT:
        return dict(entry.properties)
    if entry.properties:
        raise ConfigurationError(
            f"{entry.name}: environment classifications take their variables in a nested "
            f'{{"Classification": "export", "Properties": {{...}}}} entry under Configurations, not in '
            f"Properties; see {EMR_CONFIGURE_APPS_URL}.")
    out: dict[str, str] = {}
    for child in entry.children:
        if child.name != EXPORT:
            raise ConfigurationError(f"{entry.name}: a nested configuration must have Classification 'export', "
                                     f"not {child.name!r}; see {EMR_CONFIGURE_APPS_URL}.")
        out.update(child.properties)
    return out


def _log4j2(props: dict[str, str], notes: list[str]) -> dict[str, str]:
    """log4j 2 properties from a spark-log4j entry: log4j 2 keys as they are; the log4j 1 keys that set levels
    (``log4j.rootCategory``, ``log4j.rootLogger``, ``log4j.logger.<name>``) translated; other log4j 1 keys
    (appenders) dropped with a note, since Spark 4 has no log4j 1."""
    out: dict[str, str] = {}
    for i, (key, value) in enumerate(props.items()):
        level = value.split(",")[0].strip()
        if key in ("log4j.rootCategory", "log4j.rootLogger"):
            out["rootLogger.level"] = level.lower()
        elif key.startswith("log4j.logger."):
            ref = f"shipyard{i}"
            out[f"logger.{ref}.name"] = key[len("log4j.logger."):]
            out[f"logger.{ref}.level"] = level.lower()
        elif key.startswith("log4j."):
            notes.append(f"spark-log4j: {key} is a log4j 1 setting with no log4j 2 translation here; ignored "
                         "(give it in log4j 2 syntax, e.g. appender.console.layout.pattern)")
        else:
            out[key] = value
    return out


def properties_text(props: dict[str, str]) -> str:
    """A Java ``.properties`` file."""
    return "".join(f"{k} = {v}\n" for k, v in props.items())
