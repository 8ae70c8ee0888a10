"""JSON and YAML files read with one clear error per failure, naming the file and what it should have been."""
from __future__ import annotations

import json
import os

import yaml

from .errors import TaumlError


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """The parsed JSON document of ``path``; ``what`` names the file's role in the errors."""
    return _read(path, json.load, json.JSONDecodeError, what)


def read_yaml(path: str | os.PathLike, what: str = "YAML file"):
    """The parsed YAML document of ``path`` (``yaml.safe_load``); ``what`` names the file's role in the errors."""
    return _read(path, yaml.safe_load, yaml.YAMLError, what)


def _read(path, parse, parse_error, what: str):
    try:
        with open(path) as f:
            return parse(f)
    except FileNotFoundError as err:
        raise TaumlError(f"{path}: no such {what}") from err
    except OSError as err:
        raise TaumlError(f"{path}: cannot read the {what} ({err.strerror or err})") from err
    except parse_error as err:
        raise TaumlError(f"{path}: not a readable {what} ({err})") from err
