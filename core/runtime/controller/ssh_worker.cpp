#include "runtime/controller/ssh_worker.h"

#include "util/version.h"

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace distgpt {

namespace {

// A word for the remote POSIX shell: single quotes, each ' as '\''.
std::string quoted(const std::string& word) {
    std::string q = "'";
    for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string last_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    const auto nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

bool contains(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

// How long ssh may take to connect, log in and start the worker.
constexpr auto kStartTimeout = std::chrono::seconds(30);

}  // namespace

std::vector<std::string> SshWorker::ssh_command(const net::SshTarget& target) {
    std::vector<std::string> args;
    const char* custom = std::getenv("DISTGPT_SSH");
    std::istringstream words(custom && *custom ? custom : "ssh");
    for (std::string w; words >> w;) args.push_back(w);
    // Never a prompt (a password, a new host key): a run is not interactive.
    args.insert(args.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=10"});
    if (!target.port.empty()) args.insert(args.end(), {"-p", target.port});
    if (!target.user.empty()) args.insert(args.end(), {"-l", target.user});
    args.push_back(target.host);
    return args;
}

std::string SshWorker::remote_command(const SshLaunch& launch) {
    // $SSH_CONNECTION is "client port server port": the worker binds the
    // server address ssh reached, which this controller (and, on the same
    // network, its peers) can reach too. Its version comes first, to be
    // checked before anything is configured.
    const std::string program = quoted(launch.program);
    std::string c = "set -- $SSH_CONNECTION && " + program + " --version && exec " + program + " --listen \"tcp://$3:0\" --name " +
                    quoted(launch.name) + " --threads " + std::to_string(launch.threads) +
                    " --lifeline-fd 0 --exit-with-controller --keys-on-stdin";
    if (launch.memory_limit > 0) c += " --memory-limit " + std::to_string(launch.memory_limit);
    if (!launch.model_dir.empty()) c += " --model-dir " + quoted(launch.model_dir);
    return c;
}

SshWorker::SshWorker(const SshLaunch& launch, const net::KeyPair& controller_keys) : keys_(net::generate_key_pair()) {
    auto args = ssh_command(launch.target);
    args.push_back(remote_command(launch));
    try {
        ssh_ = std::make_unique<ChildProcess>(std::move(args), ChildProcess::Stderr::Capture);
    } catch (const Error& e) {
        throw Error(std::string(e.what()) + " for node '" + launch.name +
                    "': is the OpenSSH client installed? ($DISTGPT_SSH names another)");
    }
    // The keys go first: the worker reads them before it prints a thing.
    ssh_->write(net::handed_keys_text({keys_, controller_keys.public_key}));
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    const auto version = ssh_->read_line(deadline);
    if (!version || !version->starts_with("distgpt-worker ")) fail(launch, version.value_or(""));
    const std::string theirs = version->substr(15);
    if (theirs != kVersion)
        throw Error("node '" + launch.name + "' at " + launch.target.str() + " runs distgpt-worker " + theirs +
                    "; this controller is distgpt " + kVersion + ": install the same version on every machine");
    const auto line = ssh_->read_line(deadline);
    const auto at = line ? line->find("listening on ") : std::string::npos;
    if (at == std::string::npos) fail(launch, line.value_or(""));
    endpoint_ = line->substr(at + 13);
}

void SshWorker::fail(const SshLaunch& launch, const std::string& seen) {
    const std::string where = "node '" + launch.name + "' at " + launch.target.str();
    const std::string host = launch.target.str();  // a lost node's message names the node already
    // Silent past the deadline, or it said something else than a worker would: it has ended, or ends now.
    const int code = ssh_->wait_exit_code(std::chrono::milliseconds(ssh_->closed() ? 3000 : 0));
    const bool running = !ssh_->exited();
    const std::string err = ssh_->captured_stderr();
    const std::string said = last_line(err.empty() ? seen : err);
    if (running && seen.empty())
        throw WorkerGone(host + ": ssh did not start distgpt-worker within 30 s" + (said.empty() ? "" : " (" + said + ")"));
    if (running) throw WorkerGone(host + ": not a distgpt-worker's answer: '" + seen + "'");
    // ssh's own failures exit 255; the remote shell's "command not found" 127.
    std::string login = "ssh ";
    if (!launch.target.port.empty()) login += "-p " + launch.target.port + " ";
    login += (launch.target.user.empty() ? "" : launch.target.user + "@") + launch.target.host;
    if (code == 255 && contains(err, "Permission denied"))
        throw Error(where + ": ssh refused the login (" + said + "): put your public key in ~/.ssh/authorized_keys there " +
                    "(ssh-copy-id), load it in your agent, or name the user as ssh://user@host");
    if (code == 255 && contains(err, "Host key verification failed"))
        throw Error(where + ": its ssh host key is not known here: log in once with `" + login + "` to check and accept it");
    if (code == 255) throw WorkerGone(host + " cannot be reached: " + said);
    if (code == 127 || contains(err, "not found") || contains(err, "No such file"))
        throw Error(where + ": distgpt-worker is not installed there (" + said + "): install the distgpt-worker package, " +
                    "or give the node's \"program\" (its path on that host)");
    throw WorkerGone(host + ": distgpt-worker did not start (ssh " + *ssh_->exited() + (said.empty() ? ")" : "): " + said));
}

std::optional<std::string> SshWorker::exited() {
    auto why = ssh_->exited();
    if (!why) return why;
    const std::string said = last_line(ssh_->captured_stderr());
    return "its ssh session " + *why + (said.empty() ? "" : " (" + said + ")");
}

}  // namespace distgpt
