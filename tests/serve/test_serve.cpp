// distgpt-cli serve: the API's parts on their own (chat formats, request
// checks, the text a stream hands out, the metrics), then a real server
// over real workers, driven by OpenAI's official Node client.
#include "serve/api_request.h"
#include "serve/chat_template.h"
#include "serve/serve_metrics.h"
#include "serve/text_stream.h"
#include "support/fixtures.h"
#include "support/run_to_end.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <regex>

using namespace distgpt;
using namespace distgpt::test;
using nlohmann::json;

namespace {

const std::filesystem::path kCharModel = std::filesystem::path(DISTGPT_RESOURCES) / "models" / "shakespeare-char";

// A `distgpt-cli serve` process, its stderr in a file, on a port it chose.
class Server {
public:
    Server(const QStringList& args, const QString& log) {
        process_.setStandardErrorFile(log);
        process_.start(DISTGPT_CLI, QStringList{"serve", "--port", "0"} + args);
        // Loading takes seconds; the port comes on stdout once it listens.
        for (int i = 0; i < 1200 && port_ == 0; ++i) {
            process_.waitForReadyRead(100);
            buffer_ += process_.readAllStandardOutput().toStdString();
            std::smatch m;
            if (std::regex_search(buffer_, m, std::regex("listening on http://127\\.0\\.0\\.1:(\\d+)"))) port_ = std::stoi(m[1]);
            if (process_.state() == QProcess::NotRunning) break;
        }
    }
    ~Server() {
        if (process_.state() != QProcess::NotRunning) {
            process_.terminate();
            if (!process_.waitForFinished(20000)) process_.kill();
        }
    }
    int port() const { return port_; }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    qint64 pid() const { return process_.processId(); }
    QProcess& process() { return process_; }

private:
    QProcess process_;
    std::string buffer_;
    int port_ = 0;
};

// The client checks (tests/serve/openai_checks.mjs) against a server.
json openai(const Server& server, const std::string& key, const std::string& check, const json& args = json::object()) {
    const auto r = run_to_end({"node", std::string(OPENAI_CLIENT_DIR) + "/openai_checks.mjs", server.base(), key, check, args.dump()},
                              std::chrono::seconds(240));
    if (r.code != 0) {
        qWarning("node %s failed (%d): %s", check.c_str(), r.code, r.err.c_str());
        return json();
    }
    return json::parse(r.out);
}

// One GET with curl, for what the server says of itself.
std::string get(const Server& server, const std::string& path, const std::string& key = "") {
    std::vector<std::string> argv{"curl", "-s", "http://127.0.0.1:" + std::to_string(server.port()) + path};
    if (!key.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + key});
    return run_to_end(argv, std::chrono::seconds(30)).out;
}

// JSON values compared as their text (QCOMPARE shows both when they differ).
QString text_of(const json& j) { return QString::fromStdString(j.dump()); }

double metric(const std::string& text, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)"))) return -1;
    return std::stod(m[1]);
}

std::vector<ChatMessage> chat(std::initializer_list<std::pair<ChatRole, std::string>> turns) {
    std::vector<ChatMessage> out;
    for (const auto& [role, content] : turns) out.push_back({role, content});
    return out;
}

}  // namespace

class TestServe : public QObject {
    Q_OBJECT
    QTemporaryDir work;

private Q_SLOTS:
    void chatFormats_data() {
        QTest::addColumn<int>("format");
        QTest::addColumn<QString>("expected");
        QTest::newRow("llama 2") << int(ChatTemplate::Llama2)
                                 << "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Who are you? [/INST]";
        QTest::newRow("llama 3") << int(ChatTemplate::Llama3)
                                 << "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                                    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                                    "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
                                    "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>"
                                    "<|start_header_id|>assistant<|end_header_id|>\n\n";
        QTest::newRow("chatml") << int(ChatTemplate::ChatML)
                                << "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                   "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n"
                                   "<|im_start|>assistant\n";
        QTest::newRow("mistral") << int(ChatTemplate::Mistral) << "[INST] Be brief.\n\nHi [/INST]Hello</s>[INST] Who are you? [/INST]";
        QTest::newRow("plain") << int(ChatTemplate::Plain)
                               << "System: Be brief.\nUser: Hi\nAssistant: Hello\nUser: Who are you?\nAssistant:";
    }
    void chatFormats() {
        QFETCH(int, format);
        QFETCH(QString, expected);
        const auto messages = chat(
            {{ChatRole::System, "Be brief."}, {ChatRole::User, "Hi"}, {ChatRole::Assistant, "Hello"}, {ChatRole::User, "Who are you?"}});
        QCOMPARE(QString::fromStdString(apply_chat_template(ChatTemplate(format), messages)), expected);
    }

    // Formats that fold the system message into the turns cannot say every conversation.
    void chatFormatsRefuseWhatTheyCannotSay() {
        for (auto format : {ChatTemplate::Llama2, ChatTemplate::Mistral}) {
            QVERIFY_THROWS_EXCEPTION(Error, apply_chat_template(format, chat({{ChatRole::Assistant, "Hello"}, {ChatRole::User, "Hi"}})));
            QVERIFY_THROWS_EXCEPTION(Error, apply_chat_template(format, chat({{ChatRole::User, "Hi"}, {ChatRole::System, "late"}})));
            QVERIFY_THROWS_EXCEPTION(Error, apply_chat_template(format, chat({{ChatRole::User, "Hi"}, {ChatRole::Assistant, "Hello"}})));
        }
        QVERIFY_THROWS_EXCEPTION(Error, apply_chat_template(ChatTemplate::ChatML, {}));
    }

    // The format a model folder's tokenizer_config.json names, as Hugging Face writes it.
    void chatFormatOfAModelFolder_data() {
        QTest::addColumn<QString>("config");
        QTest::addColumn<int>("format");  // -1: refused
        QTest::newRow("none") << "{}" << int(ChatTemplate::Plain);
        QTest::newRow("llama 3")
            << R"({"chat_template": "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}"})"
            << int(ChatTemplate::Llama3);
        QTest::newRow("qwen2") << R"({"chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role']}}{% endfor %}"})"
                               << int(ChatTemplate::ChatML);
        QTest::newRow("llama 2") << R"({"chat_template": "{{ '[INST] <<SYS>>' }}"})" << int(ChatTemplate::Llama2);
        QTest::newRow("mistral") << R"({"chat_template": "{{ '[INST] ' + message['content'] + ' [/INST]' }}"})"
                                 << int(ChatTemplate::Mistral);
        QTest::newRow("named list")
            << R"({"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "<|im_start|>"}]})"
            << int(ChatTemplate::ChatML);
        QTest::newRow("unknown") << R"({"chat_template": "{{ '<start_of_turn>' }}"})" << -1;
    }
    void chatFormatOfAModelFolder() {
        QFETCH(QString, config);
        QFETCH(int, format);
        QTemporaryDir dir;
        write_file(path_of(dir) / "tokenizer_config.json", config.toStdString());
        if (format < 0) {
            try {
                chat_template_of(path_of(dir));
                QFAIL("an unknown chat template was taken");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find("cannot apply") != std::string::npos, e.what());
            }
            return;
        }
        QCOMPARE(int(chat_template_of(path_of(dir))), format);
    }

    // Llama 3's own tokenizer reads the format's markers as its special tokens.
    void llama3MarkersAreSpecialTokens() {
        const auto tokenizer = load_tokenizer(std::filesystem::path(LLAMA_TOKENIZERS_DIR) / "llama3");
        const auto ids = tokenizer->encode_prompt(apply_chat_template(ChatTemplate::Llama3, chat({{ChatRole::User, "Hi"}})));
        QCOMPARE(ids.front(), 128000);                             // <|begin_of_text|>
        QVERIFY(std::count(ids.begin(), ids.end(), 128006) == 2);  // <|start_header_id|>
        QVERIFY(std::count(ids.begin(), ids.end(), 128009) == 1);  // <|eot_id|>
    }

    void requestsAreRead() {
        const auto r = parse_completion_request(
            R"({"model": "x", "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "max_completion_tokens": 9, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": "\n", "stream": true,
                "n": 1, "frequency_penalty": 0, "stream_options": {"include_usage": true}, "user": "someone"})",
            ApiEndpoint::ChatCompletions);
        QCOMPARE(r.messages.size(), size_t(2));
        QCOMPARE(int(r.messages[0].role), int(ChatRole::System));
        QCOMPARE(r.messages[1].content, std::string("Hi"));
        QCOMPARE(*r.max_tokens, 9);
        QCOMPARE(r.temperature, 0.5f);
        QCOMPARE(r.top_k, 40);
        QCOMPARE(*r.seed, uint64_t(7));
        QCOMPARE(r.stop, std::vector<std::string>{"\n"});
        QVERIFY(r.stream);
        const auto c = parse_completion_request(R"({"prompt": ["Once"], "seed": null})", ApiEndpoint::Completions);
        QCOMPARE(c.prompt, std::string("Once"));
        QVERIFY(!c.seed && !c.max_tokens);
    }

    void badRequestsAreNamed_data() {
        QTest::addColumn<QString>("body");
        QTest::addColumn<bool>("chat");
        QTest::addColumn<QString>("param");
        QTest::newRow("not json") << "{\"prompt\": " << false << "";
        QTest::newRow("not an object") << "[1]" << false << "";
        QTest::newRow("number beyond a double") << R"({"prompt": "a", "max_tokens": 2e2222})" << false << "";  // found by fuzz_api_request
        QTest::newRow("part type a number") << R"({"messages": [{"role": "user", "content": [{"type": 1}]}]})" << true
                                            << "messages[0].content";
        QTest::newRow("no prompt") << "{}" << false << "prompt";
        QTest::newRow("prompt a number") << R"({"prompt": 5})" << false << "prompt";
        QTest::newRow("two prompts") << R"({"prompt": ["a", "b"]})" << false << "prompt";
        QTest::newRow("max_tokens a string") << R"({"prompt": "a", "max_tokens": "9"})" << false << "max_tokens";
        QTest::newRow("max_tokens 0") << R"({"prompt": "a", "max_tokens": 0})" << false << "max_tokens";
        QTest::newRow("temperature 3") << R"({"prompt": "a", "temperature": 3})" << false << "temperature";
        QTest::newRow("top_p 0") << R"({"prompt": "a", "top_p": 0})" << false << "top_p";
        QTest::newRow("seed 1.5") << R"({"prompt": "a", "seed": 1.5})" << false << "seed";
        QTest::newRow("stop a number") << R"({"prompt": "a", "stop": 1})" << false << "stop";
        QTest::newRow("five stops") << R"({"prompt": "a", "stop": ["a","b","c","d","e"]})" << false << "stop";
        QTest::newRow("stream a string") << R"({"prompt": "a", "stream": "yes"})" << false << "stream";
        QTest::newRow("n 2") << R"({"prompt": "a", "n": 2})" << false << "n";
        QTest::newRow("penalty") << R"({"prompt": "a", "presence_penalty": 1})" << false << "presence_penalty";
        QTest::newRow("no messages") << R"({"prompt": "a"})" << true << "messages";
        QTest::newRow("messages empty") << R"({"messages": []})" << true << "messages";
        QTest::newRow("role unknown") << R"({"messages": [{"role": "tool", "content": "x"}]})" << true << "messages[0].role";
        QTest::newRow("image part") << R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})" << true
                                    << "messages[0].content";
    }
    void badRequestsAreNamed() {
        QFETCH(QString, body);
        QFETCH(bool, chat);
        QFETCH(QString, param);
        try {
            parse_completion_request(body.toStdString(), chat ? ApiEndpoint::ChatCompletions : ApiEndpoint::Completions);
            QFAIL("taken");
        } catch (const ApiError& e) {
            QCOMPARE(e.status, 400);
            QCOMPARE(QString::fromStdString(e.param), param);
            const auto doc = json::parse(e.body());  // OpenAI's shape
            QCOMPARE(doc["error"]["type"].get<std::string>(), std::string("invalid_request_error"));
            QVERIFY(!doc["error"]["message"].get<std::string>().empty());
        }
    }

    // Text goes out as it comes, less what may yet be a stop string or half a character.
    void textStreamHoldsBackWhatItMust() {
        const auto tokenizer = load_tokenizer(kCharModel);
        auto ids = [&](const std::string& s) { return tokenizer->encode(s); };
        TextStream text(*tokenizer, {}, {"\nUser:", "END"});
        std::string out;
        for (int id : ids("Hello\nUs")) out += text.push(id);
        QCOMPARE(out, std::string("Hello"));  // "\nUs" may be the start of "\nUser:"
        for (int id : ids("ed it.")) out += text.push(id);
        QCOMPARE(out, std::string("Hello\nUsed it."));
        for (int id : ids(" EN")) out += text.push(id);
        QCOMPARE(out, std::string("Hello\nUsed it. "));
        for (int id : ids("D more")) out += text.push(id);
        QVERIFY(text.stopped());
        QCOMPARE(out + text.finish(), std::string("Hello\nUsed it. "));
        QCOMPARE(text.text(), std::string("Hello\nUsed it. "));

        TextStream plain(*tokenizer, {ids("!").front()}, {});
        std::string all;
        for (int id : ids("Go on!")) all += plain.push(id);  // '!' as the end of text: spelled by nothing
        QCOMPARE(all + plain.finish(), std::string("Go on"));
    }

    void unfinishedCharactersAreHeld_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("held");
        QTest::newRow("ascii") << QByteArray("abc") << 0;
        QTest::newRow("whole é") << QByteArray("caf\xC3\xA9") << 0;
        QTest::newRow("half é") << QByteArray("caf\xC3") << 1;
        QTest::newRow("2 of 3") << QByteArray("\xE2\x82") << 2;
        QTest::newRow("whole €") << QByteArray("\xE2\x82\xAC") << 0;
        QTest::newRow("3 of 4") << QByteArray("a\xF0\x9F\x98") << 3;
        QTest::newRow("stray continuation") << QByteArray("a\x80") << 0;
    }
    void unfinishedCharactersAreHeld() {
        QFETCH(QByteArray, text);
        QFETCH(int, held);
        QCOMPARE(int(unfinished_utf8_tail(text.toStdString())), held);
    }

    void metricsAreInPrometheusText() {
        std::vector<TraceNode> nodes(2);
        nodes[0].name = "a";
        nodes[1].name = "b\"c";
        ServeMetrics m(nodes);
        m.request("/v1/completions", 200);
        m.request("/v1/completions", 200);
        m.request("/v1/completions", 400);
        m.first_token(0.02);
        m.next_token(0.003);
        m.next_token(0.3);
        m.prompt_tokens(5);
        m.sequences(2, 1);
        m.spans({{0, SpanKind::Compute, 0, 2e6}, {1, SpanKind::Send, 0, 5e6}});
        const std::string t = m.render();
        QVERIFY(t.find("distgpt_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2\n") != std::string::npos);
        QVERIFY(t.find("distgpt_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n") != std::string::npos);
        QVERIFY(t.find("distgpt_time_per_output_token_seconds_bucket{le=\"0.005\"} 1\n") != std::string::npos);
        QVERIFY(t.find("distgpt_time_per_output_token_seconds_bucket{le=\"0.5\"} 2\n") != std::string::npos);  // cumulative
        QVERIFY(t.find("distgpt_time_per_output_token_seconds_count 2\n") != std::string::npos);
        QCOMPARE(metric(t, "distgpt_generated_tokens_total"), 3.0);
        QCOMPARE(metric(t, "distgpt_queue_depth"), 1.0);
        QVERIFY(t.find("distgpt_node_busy_ratio{node=\"a\"} 0.2\n") != std::string::npos);     // 2 s of 10
        QVERIFY(t.find("distgpt_node_busy_ratio{node=\"b\\\"c\"} 0\n") != std::string::npos);  // a send is no work
    }

    // The official client against a 2-stage pipeline: models, completions,
    // chat, both streamed; the completion is the single process's text.
    void theOpenAIClientWorks() {
        Server server({"--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--api-key", "k1"}, work.filePath("basics.log"));
        QVERIFY2(server.port() > 0, "the server did not start (see basics.log)");
        const json r = openai(server, "k1", "basics", {{"prompt", "ROMEO:"}, {"max_tokens", 40}, {"seed", 3}, {"stop", "lord"}});
        QVERIFY(!r.is_null());
        QCOMPARE(text_of(r["models"]), text_of(json::array({"shakespeare-char"})));
        const auto single = run_to_end({DISTGPT_CLI, "generate", "--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "3", "--json"});
        QCOMPARE(single.code, 0);
        const std::string expected = json::parse(single.out)["text"];
        QCOMPARE(r["completion"]["text"].get<std::string>(), expected);
        QCOMPARE(r["completion"]["finish"].get<std::string>(), std::string("length"));
        QCOMPARE(r["completion"]["usage"]["prompt_tokens"].get<int>(), 6);
        QCOMPARE(r["completion"]["usage"]["completion_tokens"].get<int>(), 40);
        QCOMPARE(text_of(r["completionStream"]["text"]), text_of(r["completion"]["text"]));
        QCOMPARE(text_of(r["completionStream"]["usage"]), text_of(r["completion"]["usage"]));
        QCOMPARE(r["chat"]["role"].get<std::string>(), std::string("assistant"));
        QCOMPARE(text_of(r["chatStream"]["text"]), text_of(r["chat"]["text"]));
        QCOMPARE(text_of(r["chatStream"]["finish"]), text_of(r["chat"]["finish"]));
        QCOMPARE(text_of(r["chatStream"]["usage"]), text_of(r["chat"]["usage"]));
        QVERIFY(r["chatStream"]["chunks"].get<int>() > 2);
        // A stop string ends the text before it.
        const std::string full = r["completion"]["text"];
        QVERIFY(full.find("lord") != std::string::npos);
        QCOMPARE(r["stopped"]["text"].get<std::string>(), full.substr(0, full.find("lord")));
        QCOMPARE(r["stopped"]["finish"].get<std::string>(), std::string("stop"));
        // What the metrics counted.
        const std::string metrics = get(server, "/metrics", "k1");
        QVERIFY(metrics.find("distgpt_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2") != std::string::npos);
        QVERIFY(metric(metrics, "distgpt_time_to_first_token_seconds_count") >= 5);
        QVERIFY(metrics.find("distgpt_node_busy_ratio{node=\"stage1\"}") != std::string::npos);
        QCOMPARE(json::parse(get(server, "/health", "k1"))["status"].get<std::string>(), std::string("ok"));
    }

    // 32 clients streaming at once, with fixed seeds, each get the text the
    // same request gets alone; bad requests among them harm none.
    void concurrentClientsGetTheSequentialText_data() {
        QTest::addColumn<int>("microBatch");
        QTest::newRow("a micro-batch each") << 1;
        QTest::newRow("micro-batches of 4") << 4;  // rows computed together give each row's bits alone
    }
    void concurrentClientsGetTheSequentialText() {
        QFETCH(int, microBatch);
        Server server({"--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--max-in-flight", "8", "--queue", "32", "--micro-batch",
                       QString::number(microBatch)},
                      work.filePath("concurrent.log"));
        QVERIFY(server.port() > 0);
        json prompts = json::array();
        for (int i = 0; i < 32; ++i) prompts.push_back(std::string("Speak, ") + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i] + " of Verona");
        const json sequential = openai(server, "", "sequential", {{"prompts", prompts}, {"max_tokens", 30}});
        const json concurrent = openai(server, "", "concurrent", {{"prompts", prompts}, {"max_tokens", 30}, {"bad", 6}});
        QVERIFY(sequential.is_array() && concurrent.is_object());
        QCOMPARE(sequential.size(), size_t(32));
        QCOMPARE(concurrent["streams"].size(), size_t(32));
        int distinct = 0;
        for (int i = 0; i < 32; ++i) {
            QCOMPARE(text_of(concurrent["streams"][i]["text"]), text_of(sequential[i]["text"]));
            QCOMPARE(text_of(concurrent["streams"][i]["finish"]), text_of(sequential[i]["finish"]));
            distinct += i > 0 && sequential[i]["text"] != sequential[i - 1]["text"];
        }
        QVERIFY(distinct > 20);  // the seeds and prompts made different texts
        // They were in flight together: every slot took a stream.
        QVERIFY2(concurrent["mostAtOnce"].get<int>() >= 8, concurrent["mostAtOnce"].dump().c_str());
        QCOMPARE(text_of(concurrent["refused"]), text_of(json(std::vector<int>(6, 400))));
    }

    // A client that leaves frees its slot at once; a full server says 429;
    // the API key is enforced; each malformed request gets its 4xx. On a
    // model slow enough (a random GPT-2 on one thread a stage) that a
    // request's 100 tokens take seconds.
    void slotsKeysAndRefusals() {
        Server server({"--random-init", "gpt2", "--context", "256", "--topology", DISTGPT_TOPOLOGIES "/pipeline-2.json", "--max-in-flight",
                       "1", "--queue", "0", "--api-key", "k2"},
                      work.filePath("slots.log"));
        QVERIFY(server.port() > 0);
        const json busy = openai(server, "k2", "busy", {{"prompt", "Once"}, {"max_tokens", 100}});
        QVERIFY(busy.is_object());
        QCOMPARE(busy["status"].get<int>(), 429);
        QCOMPARE(busy["error"]["code"].get<std::string>(), std::string("server_busy"));
        QTRY_COMPARE_WITH_TIMEOUT(json::parse(get(server, "/health", "k2"))["running"].get<int>(), 0, 20000);

        const double before = metric(get(server, "/metrics", "k2"), "distgpt_generated_tokens_total");
        const json left = openai(server, "k2", "disconnect", {{"prompt", "Once upon a time"}, {"max_tokens", 100}});
        QVERIFY(left.is_object());
        QCOMPARE(left["chunks"].get<int>(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(json::parse(get(server, "/health", "k2"))["running"].get<int>(), 0, 20000);
        const double made = metric(get(server, "/metrics", "k2"), "distgpt_generated_tokens_total") - before;
        qInfo("the request that left made %g of its 100 tokens", made);
        QVERIFY2(made < 50, qPrintable(QString("the request that left made %1 of its 100 tokens").arg(made)));

        const json auth = openai(server, "k2", "auth", {{"prompt", "Once"}});
        QVERIFY(auth.is_object());
        QCOMPARE(auth["none"].get<int>(), 401);
        QCOMPARE(auth["wrong"].get<int>(), 401);
        QCOMPARE(auth["models_without_key"].get<int>(), 401);
        QCOMPARE(auth["right"].get<int>(), 200);

        const json bad =
            openai(server, "k2", "malformed",
                   {{"requests",
                     {{"not json", {{"path", "/completions"}, {"body", "{\"prompt\": "}}},
                      {"wrong type",
                       {{"path", "/chat/completions"}, {"body", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"})"}}},
                      {"too long", {{"path", "/completions"}, {"body", json{{"prompt", std::string(300, 'a')}}.dump()}}},
                      {"beyond the context", {{"path", "/completions"}, {"body", R"({"prompt": "Once", "max_tokens": 300})"}}},
                      {"too big", {{"path", "/completions"}, {"prompt_bytes", 2 << 20}}},
                      {"no endpoint", {{"path", "/embeddings"}, {"body", "{}"}}},
                      {"n", {{"path", "/completions"}, {"body", R"({"prompt": "Once", "n": 3})"}}}}}});
        QVERIFY(bad.is_object());
        QCOMPARE(bad["not json"]["status"].get<int>(), 400);
        QCOMPARE(bad["wrong type"]["status"].get<int>(), 400);
        QCOMPARE(bad["wrong type"]["error"]["param"].get<std::string>(), std::string("max_tokens"));
        QCOMPARE(bad["too long"]["status"].get<int>(), 400);
        QCOMPARE(bad["too long"]["error"]["code"].get<std::string>(), std::string("context_length_exceeded"));
        QCOMPARE(bad["beyond the context"]["status"].get<int>(), 400);
        QVERIFY(bad["beyond the context"]["error"]["message"].get<std::string>().find("so at most ") != std::string::npos);
        QCOMPARE(bad["too big"]["status"].get<int>(), 413);
        QCOMPARE(bad["no endpoint"]["status"].get<int>(), 404);
        QCOMPARE(bad["n"]["status"].get<int>(), 400);
        for (const auto& [name, r] : bad.items()) QVERIFY2(r["error"]["message"].is_string(), name.c_str());
        // And the server still serves.
        QCOMPARE(openai(server, "k2", "auth", {{"prompt", "Once"}})["right"].get<int>(), 200);
    }

    // The chat format is the one the model folder names: one the server does
    // not know stops it from starting, saying so; a known one is applied
    // (ChatML's markers are characters the demo's vocabulary cannot spell).
    void theModelFoldersChatFormatIsUsed() {
        QTemporaryDir dir;
        const auto model = path_of(dir) / "model";
        std::filesystem::copy(kCharModel, model);
        write_file(model / "tokenizer_config.json",
                   R"({"tokenizer_class": "DistgptCharTokenizer", "chat_template": "{{ '<start_of_turn>' + message['content'] }}"})");
        const auto refused = run_to_end({DISTGPT_CLI, "serve", "--model", model.string(), "--port", "0"}, std::chrono::seconds(60));
        QCOMPARE(refused.code, 1);
        QVERIFY2(refused.err.find("names a chat template distgpt cannot apply") != std::string::npos, refused.err.c_str());

        write_file(
            model / "tokenizer_config.json",
            R"({"tokenizer_class": "DistgptCharTokenizer", "chat_template": "{% for m in messages %}{{'<|im_start|>' + m['role']}}{% endfor %}"})");
        Server server({"--model", QString::fromStdString(model.string())}, work.filePath("chatml.log"));
        QVERIFY(server.port() > 0);
        QVERIFY(read_file(work.filePath("chatml.log").toStdString()).find("chat format chatml") != std::string::npos);
        const json bad =
            openai(server, "", "malformed",
                   {{"requests",
                     {{"chat", {{"path", "/chat/completions"}, {"body", R"({"messages": [{"role": "user", "content": "Hi"}]})"}}},
                      {"completion", {{"path", "/completions"}, {"body", R"({"prompt": "Hi", "max_tokens": 3})"}}}}}});
        QVERIFY(bad.is_object());
        QCOMPARE(bad["chat"]["status"].get<int>(), 400);
        QVERIFY2(bad["chat"]["error"]["message"].get<std::string>().find("cannot read the prompt") != std::string::npos,
                 bad["chat"].dump().c_str());
        QCOMPARE(bad["completion"]["status"].get<int>(), 200);
    }

    // A worker killed mid-request: the run re-plans over the others and the
    // clients' streams go on, with the text they would have had. A model of
    // 8 layers 512 wide: a few ms a token here, a second or so under a
    // sanitizer, so the worker dies while both streams run either way.
    void aLostWorkerMidStreamIsRecoveredFrom() {
        QTemporaryDir dir;
        const auto model = write_random_model(path_of(dir) / "model", small_config(8, 8, 512, 257, 256), 5);
        Server server({"--model", QString::fromStdString(model.string()), "--topology", DISTGPT_TOPOLOGIES "/pipeline-3.json",
                       "--max-in-flight", "2"},
                      work.filePath("recover.log"));
        QVERIFY(server.port() > 0);
        const json prompts = {"Once upon a time", "It was a dark"};
        const json args = {{"prompts", prompts}, {"max_tokens", 100}, {"ignore_eos", true}};
        const json expected = openai(server, "", "sequential", args);
        QVERIFY(expected.is_array());
        QCOMPARE(expected.size(), size_t(2));
        // Both stream; a worker dies as their first words come.
        QProcess client;
        client.setStandardErrorFile(work.filePath("recover-client.err"));
        client.start("node", {OPENAI_CLIENT_DIR "/openai_checks.mjs", QString::fromStdString(server.base()), "", "concurrent",
                              QString::fromStdString(args.dump())});
        QTRY_VERIFY_WITH_TIMEOUT(json::parse(get(server, "/health")).value("running", 0) == 2, 20000);
        const auto workers = run_to_end({"pgrep", "-P", std::to_string(server.pid())}).out;
        QVERIFY(!workers.empty());
        const int victim = std::stoi(workers.substr(workers.find('\n') + 1));  // the second worker started
        QCOMPARE(client.state(), QProcess::Running);                           // the streams are under way
        ::kill(victim, SIGKILL);
        QVERIFY(client.waitForFinished(180000));
        const json got = json::parse(client.readAllStandardOutput().toStdString());
        for (int i = 0; i < 2; ++i) QCOMPARE(text_of(got["streams"][i]["text"]), text_of(expected[i]["text"]));
        QVERIFY(read_file(work.filePath("recover.log").toStdString()).find("re-planned over 2 node(s)") != std::string::npos);
        QCOMPARE(json::parse(get(server, "/health"))["status"].get<std::string>(), std::string("ok"));
    }
};

QTEST_GUILESS_MAIN(TestServe)
#include "test_serve.moc"
