import pytest

from distill.label.schema import (
    Malformed,
    classification_schema,
    ner_schema,
    parse_reply,
    strict_errors,
    validate,
)

CLS = classification_schema(["great", "other"])
NER = ner_schema(["ORG", "PER"])

CASES = [
    (CLS, {"label": "great"}, True),
    (CLS, {"label": "awful"}, False),
    (CLS, {"label": "great", "why": "x"}, False),
    (CLS, {}, False),
    (CLS, {"label": 1}, False),
    (CLS, ["great"], False),
    (NER, {"entities": []}, True),
    (NER, {"entities": [{"text": "Acme", "type": "ORG"}]}, True),
    (NER, {"entities": [{"text": "Acme"}]}, False),
    (NER, {"entities": [{"text": "", "type": "ORG"}]}, False),
    (NER, {"entities": [{"text": "Acme", "type": "MONEY"}]}, False),
    (NER, {"entities": "Acme"}, False),
    (NER, {"entities": [{"text": "x", "type": "ORG"}] * 21}, False),
]


@pytest.mark.parametrize("schema,value,ok", CASES)
def test_both_validators_accept_exactly_what_the_schema_allows(schema, value, ok):
    assert (strict_errors(value, schema) == []) is ok
    assert (validate(value, schema, use_jsonschema=True) == []) is ok
    assert (validate(value, schema, use_jsonschema=False) == []) is ok


def test_a_reply_is_the_first_valid_json_object_in_the_text():
    assert parse_reply('Sure! ```json\n{"label": "other"}\n```', CLS) == {"label": "other"}
    assert parse_reply('{"label": "bad"} no wait: {"label": "great"}', CLS) == {"label": "great"}
    with pytest.raises(Malformed, match="not one of"):
        parse_reply('{"label": "bad"}', CLS)
    with pytest.raises(Malformed, match="no JSON object"):
        parse_reply("great", CLS)
    with pytest.raises(Malformed):
        parse_reply('{"entities": [{"text": "Acme", "type": "ORG"', NER)  # cut off by the token limit


def test_the_strict_validator_refuses_keywords_it_does_not_implement():
    with pytest.raises(ValueError, match="pattern"):
        strict_errors("x", {"type": "string", "pattern": "a"})
