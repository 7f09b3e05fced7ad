// distgpt: the desktop app.
#include "util/version.h"
#include "widgets/main_window.h"

#include <QApplication>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName("distgpt");
    QApplication::setApplicationName("distgpt");
    QApplication::setApplicationVersion(distgpt::kVersion);
    distgpt::ui::MainWindow window;
    window.show();
    return app.exec();
}
