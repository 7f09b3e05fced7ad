// distgpt-cli run --slurm in a real allocation: a single-machine Slurm
// (slurmctld, slurmd and munged from Debian, a generated configuration), jobs from salloc and from the example batch script. Needs root
// and slurm-wlm + munge (CI has them); skipped, saying why, elsewhere.
#include "engine/local_engine.h"
#include "support/fixtures.h"
#include "support/run_to_end.h"
#include "support/test_slurm.h"
#include "util/child_process.h"

#include <QTest>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

using namespace distgpt;
using namespace distgpt::test;

class TestSlurm_ : public QObject {
    Q_OBJECT
    QTemporaryDir dir;
    std::unique_ptr<TestSlurm> slurm;
    ModelSource source;
    std::unique_ptr<OpenedModel> model;
    std::vector<int> prompt;
    std::vector<int> reference;  // the single process's greedy tokens

    // This cluster's workers still running: those whose environment names its configuration.
    int workers_running() const {
        int n = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
            std::ifstream comm(entry.path() / "comm");
            std::string name;
            if (!std::getline(comm, name) || name != "distgpt-worker") continue;
            std::ifstream environ(entry.path() / "environ");
            const std::string env((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
            n += env.find("SLURM_CONF=" + slurm->conf().string() + '\0') != std::string::npos;
        }
        return n;
    }

private Q_SLOTS:
    void initTestCase() {
        if (const auto why = TestSlurm::unavailable()) QSKIP(("no Slurm: " + *why).c_str());
        source.dir = write_random_model(path_of(dir) / "model", small_config(4, 4, 64, 257, 64), 29);
        model = std::make_unique<OpenedModel>(open_model(source));
        prompt = model->tokenizer->encode("To be, or not");
        GenerateOptions options;
        options.max_new_tokens = 12;
        options.sampling.temperature = 0;
        options.stop_at_eos = false;
        reference = LocalEngine(*model, 2, 1, 64).generate({prompt}, options).sequences[0].generated_ids;
        slurm = std::make_unique<TestSlurm>(path_of(dir) / "slurm");
        QCOMPARE(workers_running(), 0);
    }

    // Inside salloc: one worker per task, the split the flags ask for, the single process's tokens; then none left.
    void aRunAcrossTheAllocationGivesTheSingleProcessTokens_data() {
        QTest::addColumn<int>("tasks");
        QTest::addColumn<QString>("strategy");
        QTest::newRow("pipeline 3") << 3 << "pipeline";
        QTest::newRow("tensor 2") << 2 << "tensor";
        QTest::newRow("hybrid 2x2") << 4 << "hybrid";
    }
    void aRunAcrossTheAllocationGivesTheSingleProcessTokens() {
        QFETCH(int, tasks);
        QFETCH(QString, strategy);
        const Finished f =
            run_to_end(slurm->client({"salloc", "--ntasks=" + std::to_string(tasks), "--cpus-per-task=1", DISTGPT_CLI, "run", "--slurm",
                                      "--strategy", strategy.toStdString(), "--model", source.dir.string(), "--prompt", "To be, or not",
                                      "--max-new-tokens", "12", "--temperature", "0", "--ignore-eos", "--json"}));
        QVERIFY2(f.code == 0, (f.err + slurm->log()).c_str());
        const auto result = nlohmann::json::parse(f.out);
        QCOMPARE(result["sequences"][0]["generated_ids"].get<std::vector<int>>(), reference);
        QCOMPARE(result["metrics"]["nodes"].size(), std::size_t(tasks));
        QVERIFY2(f.err.find(std::to_string(tasks) + " task(s) of 1 CPU(s) on 1 host(s)") != std::string::npos, f.err.c_str());
        QTRY_COMPARE_WITH_TIMEOUT(workers_running(), 0, 10000);
    }

    // The batch script in resources/slurm/, submitted as it is, writes the text.
    void theExampleBatchScriptRuns() {
        const auto out = path_of(dir) / "batch.out";
        const Finished f =
            run_to_end(slurm->client({"env", std::string("DISTGPT_CLI=") + DISTGPT_CLI, "DISTGPT_MODEL=" + source.dir.string(),
                                      "DISTGPT_PROMPT=To be, or not", "DISTGPT_TOKENS=12", "sbatch", "--wait", "--output=" + out.string(),
                                      "--export=ALL", DISTGPT_RESOURCES "/slurm/distgpt.sbatch"}));
        QVERIFY2(f.code == 0, (f.err + slurm->log()).c_str());
        std::ifstream in(out);
        const std::string printed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        QVERIFY2(printed.find("--- sequence 1") != std::string::npos && printed.find("To be, or not") != std::string::npos,
                 printed.c_str());
        QVERIFY2(printed.find("starting a worker per task") != std::string::npos, printed.c_str());
        QTRY_COMPARE_WITH_TIMEOUT(workers_running(), 0, 10000);
    }

    void cleanupTestCase() { slurm.reset(); }
};

QTEST_GUILESS_MAIN(TestSlurm_)
#include "test_slurm.moc"
