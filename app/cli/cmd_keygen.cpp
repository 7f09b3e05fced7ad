#include "cli/commands.h"
#include "cli/model_options.h"
#include "net/curve_keys.h"

#include <iostream>

namespace distgpt::cli {

void add_keygen(CLI::App& app, int& exit_code) {
    auto out = std::make_shared<std::string>();
    auto* c =
        app.add_subcommand("keygen", "write a CURVE key pair: NAME.key (secret, for --server-key or --key) and NAME.pub (to authorize)");
    c->add_option("--out", *out, "file name stem, e.g. keys/controller")->required();
    c->callback([out, &exit_code] {
        exit_code = guarded("keygen", [&] {
            const auto keys = net::generate_key_pair();
            net::write_key_pair(keys, *out);
            std::cout << "wrote " << *out << ".key (keep it secret) and " << *out << ".pub: " << keys.public_key << "\n";
            return 0;
        });
    });
}

}  // namespace distgpt::cli
