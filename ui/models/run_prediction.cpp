#include "models/run_prediction.h"

#include "engine/machine_rates.h"

#include <QPointer>

namespace distgpt::ui {

RunPrediction::RunPrediction(QObject* parent) : QObject(parent), thread_([this] { work(); }) {}

RunPrediction::~RunPrediction() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void RunPrediction::request(const RunSpec& spec) {
    {
        std::lock_guard lock(mutex_);
        pending_ = spec;
        ++asked_;
    }
    busy_ = true;
    wake_.notify_all();
}

void RunPrediction::clear(const QString& why) {
    {
        std::lock_guard lock(mutex_);
        pending_.reset();
        ++asked_;
    }
    busy_ = false;
    latest_ = {};
    latest_.problem = why;
    Q_EMIT predicted();
}

void RunPrediction::learnFrom(const RunSpec& spec, const RunTrace& trace) {
    {
        std::lock_guard lock(mutex_);
        lesson_ = std::pair{spec, trace};
    }
    wake_.notify_all();
}

void RunPrediction::work() {
    while (true) {
        RunSpec spec;
        quint64 asked = 0;
        std::optional<std::pair<RunSpec, RunTrace>> lesson;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || pending_ || lesson_; });
            if (stopping_) return;
            lesson = std::exchange(lesson_, std::nullopt);
        }
        if (lesson) {
            learn(lesson->first, lesson->second);
            continue;
        }
        {
            std::unique_lock lock(mutex_);
            if (stopping_) return;
            if (!pending_) continue;
            spec = std::move(*pending_);
            pending_.reset();
            asked = asked_;
        }
        PredictedRun result = compute(spec);
        QPointer<RunPrediction> self(this);
        QMetaObject::invokeMethod(
            this,
            [self, asked, result = std::move(result)] {
                if (!self) return;
                {
                    std::lock_guard lock(self->mutex_);
                    if (asked != self->asked_) return;  // a newer request is on its way
                }
                self->latest_ = result;
                self->busy_ = false;
                Q_EMIT self->predicted();
            },
            Qt::QueuedConnection);
    }
}

namespace {

// What the run of `spec` asks, as planning takes it.
RunChoices choicesOf(const RunSpec& spec) {
    RunChoices choices{{}, spec.sampling, spec.max_new_tokens, spec.in_flight, 0, spec.keep};
    for (const auto& p : spec.prompts) choices.prompts.push_back(p.toStdString());
    return choices;
}

}  // namespace

void RunPrediction::learn(const RunSpec& spec, const RunTrace& trace) {
    try {
        const OpenedModel model = open_model(spec.model);
        const RunChoices choices = choicesOf(spec);
        if (spec.topology.strategy == Strategy::Auto || spec.serve) return;  // the run's own plan is not known here
        const RunSetup setup = prepare_run(spec.topology, model, choices);
        MachineRates machine;
        const auto rates = plan_node_rates(machine, spec.topology, setup.plan, model.config, model.weight_format);
        machine.learn(learn_costs(trace, spec.topology, setup.plan, rates, local_cores()), spec.topology, setup.plan, model.config,
                      model.weight_format);
    } catch (const std::exception&) {
        // nothing learned: the next prediction goes on as before
    }
}

PredictedRun RunPrediction::compute(const RunSpec& spec) {
    PredictedRun out;
    try {
        const OpenedModel model = open_model(spec.model);
        const RunChoices choices = choicesOf(spec);
        MachineRates machine;
        Topology topology = spec.topology;
        if (topology.strategy == Strategy::Auto) {
            const StrategyChoice choice = choose_strategy_here(machine, topology, model, choices, spec.micro_batch);
            topology = choice.topology;
            out.strategyChoice = QString::fromStdString(choice.why);
            out.chosen = std::pair{topology.strategy, topology.tensor_parallel};
        }
        const RunSetup setup = prepare_run(topology, model, choices);
        out.shape = run_shape(setup, spec.micro_batch, spec.max_new_tokens);
        out.prediction = predict_here(machine, topology, setup, model, spec.micro_batch, spec.max_new_tokens);
        for (const auto& n : topology.nodes) out.nodeNames << QString::fromStdString(n.name);
        out.ok = true;
    } catch (const std::exception& e) {
        out.problem = QString::fromStdString(e.what());
    }
    return out;
}

}  // namespace distgpt::ui
