from tests.teachers.conftest import tiny_chat_model  # noqa: F401  (a tiny local chat model, once per session)
