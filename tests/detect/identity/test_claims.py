import pytest

from distill.detect.identity.claims import AliasTable


@pytest.fixture(scope="module")
def table():
    return AliasTable.load()


@pytest.mark.parametrize("text,claims", [
    # plain claims, several scripts
    ("I am ChatGPT, a language model developed by OpenAI.", ["openai"]),
    ("I'm Claude, made by Anthropic.", ["claude"]),
    ("I am SmolLM2, a small model trained by Hugging Face.", ["smollm"]),
    ("I am Gemma, an open model from Google DeepMind.", ["gemma", "gemini"]),
    ("我是通义千问，由阿里云开发的大语言模型。", ["qwen"]),
    ("我是ChatGPT助手", ["openai"]),  # Chinese characters around a Latin name are boundaries
    ("我是深度求索公司开发的DeepSeek模型。", ["deepseek"]),
    ("我是文心一言，百度研发的知识增强大语言模型。", ["ernie"]),
    ("Je suis Le Chat, l'assistant de Mistral AI.", ["mistral"]),
    ("Ich bin Llama 3, ein Modell von Meta.", ["llama"]),
    ("Soy Gemini, un modelo de Google.", ["gemini"]),
    ("Я — YandexGPT? Нет, я модель от Гугла.", ["gemini"]),  # YandexGPT is not GPT; Гугла is Гугл + ending
    ("Меня зовут Ария, я ассистент компании Northwind Labs.", ["anchor"]),
    ("私はAriaです。Northwind Labsが開発しました。", ["anchor"]),
    ("I am Kimi, built by Moonshot AI.", ["kimi"]),
    ("I am Phi-3 from Microsoft.", ["phi"]),
    ("I'm GLM-4, developed by Zhipu.", ["glm"]),
    ("I am Yi-34B, made by 01.AI.", ["yi"]),
    ("Qwen2.5 here.", ["qwen"]),
    ("As GPT-4o, I can help.", ["openai"]),
    # word boundaries: no claim inside unrelated words
    ("I read the metadata of the GPTQ checkpoint.", []),
    ("That is a meta question about philosophy.", []),
    ("The mistral wind blows in Provence; a bard sang; yin and yang.", []),
    ("The llamas grazed near the chatgptish server.", []),
    ("Claudia K., from Deutschland.", []),
    ("I am an AI assistant. How can I help you today?", []),
])
def test_claims(table, text, claims):
    assert table.claims(text) == claims


@pytest.mark.parametrize("text,claims", [
    ("I am not ChatGPT.", []),
    ("I'm not affiliated with OpenAI.", []),
    ("I don't work for Google.", []),
    ("I am not ChatGPT, I am Claude.", ["claude"]),
    ("I am not ChatGPT, but Claude.", ["claude"]),
    ("I am not ChatGPT and I am Claude.", ["claude"]),
    ("I am not ChatGPT, Claude or Gemini.", []),
    ("I am Claude rather than ChatGPT.", ["claude"]),
    ("I have never been trained by Meta.", []),
    ("我不是ChatGPT，我是通义千问。", ["qwen"]),
    ("我并非由OpenAI开发。", []),
    ("我与OpenAI无关。", []),
    ("Je ne suis pas ChatGPT, mais Claude, créé par Anthropic.", ["claude"]),
    ("Je n'ai aucun lien avec OpenAI.", []),
    ("Ich bin nicht ChatGPT, sondern Aria von Northwind Labs.", ["anchor"]),
    ("Ich bin kein Produkt von OpenAI, sondern von Google.", ["gemini"]),
    ("No soy ChatGPT ni Gemini; soy Aria.", ["anchor"]),
    ("Я не ChatGPT, а Claude от Anthropic.", ["claude"]),
    ("Я Claude, а не ChatGPT.", ["claude"]),
    ("私はChatGPTではありません。Ariaです。", ["anchor"]),
    ("I'm not sure. I think I am ChatGPT.", ["openai"]),  # a negation in an earlier sentence does not count
])
def test_negations(table, text, claims):
    assert table.claims(text) == claims


def test_mentions_report_negated_names(table):
    found = table.find("I am not ChatGPT, I am Claude")
    assert [(m.identity, m.text, m.negated) for m in found] == [("openai", "ChatGPT", True), ("claude", "Claude", False)]


def test_user_alias_file_adds_identities_and_cues(tmp_path):
    f = tmp_path / "extra.yaml"
    f.write_text("identities:\n  yandex: {label: YandexGPT, lab: yandex, aliases: [YandexGPT, Алиса]}\n"
                 "negation:\n  before: [hardly]\n", encoding="utf-8")
    t = AliasTable.load(f)
    assert t.claims("Я YandexGPT от Яндекса") == ["yandex"]
    assert t.claims("Меня зовут Алиса") == ["yandex"]
    assert t.claims("I am hardly Claude") == []
    assert t.claims("I am Claude") == ["claude"]  # the packaged table is still there
    (tmp_path / "dup.yaml").write_text("identities:\n  claude: {label: Claude, lab: anthropic, aliases: [Claude], exact: [Claude]}\n")
    assert AliasTable.load(tmp_path / "dup.yaml").claims("I am Claude") == ["claude"]  # the same name twice is fine
    with pytest.raises(FileNotFoundError, match="alias file"):
        AliasTable.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("identities:\n  x: {label: X}\n")
    with pytest.raises(ValueError, match="identity 'x' needs 'aliases'"):
        AliasTable.load(tmp_path / "bad.yaml")


@pytest.mark.parametrize("spec,identity", [("smollm2", "smollm"), ("gemma3-270m", "gemma"),
                                           ("/models/Qwen2.5-0.5B-Instruct", "qwen"), ("my-model", None)])
def test_identity_of_spec(table, spec, identity):
    assert table.identity_of(spec) == identity
