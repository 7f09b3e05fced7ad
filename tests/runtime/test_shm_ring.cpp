// The shared-memory ring that carries decode hops between workers on one
// machine: messages arrive whole and in order across wrap-arounds and in
// chunks when larger than the ring, a full ring waits instead of
// overwriting, a dead reader or a broken ring is an error, and a second
// process really reads what the first wrote.
#include "net/shm_ring.h"
#include "support/expect_error.h"

#include <QTest>

#include <chrono>
#include <thread>
#include <cstring>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

using namespace distgpt;
using namespace distgpt::test;

namespace {

std::string unique_name(const char* what) { return net::ring_name(std::to_string(getpid()), what, std::to_string(rand())); }

proto::Parts message(int index, std::size_t bytes) {
    proto::Parts parts;
    const std::string head = "message " + std::to_string(index);
    parts.emplace_back(head.data(), head.size());
    std::string body(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i) body[i] = static_cast<char>((index * 131 + i) & 0xFF);
    parts.emplace_back(body.data(), body.size());
    return parts;
}

bool same(const proto::Parts& a, const proto::Parts& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size()) != 0) return false;
    return true;
}

}  // namespace

class TestShmRing : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void messages_arrive_whole_and_in_order_data() {
        QTest::addColumn<int>("bytes");
        QTest::addColumn<int>("count");
        QTest::newRow("decode hop of gpt2 (768 floats)") << 3072 << 2000;
        QTest::newRow("empty data frame") << 0 << 50;
        QTest::newRow("odd sizes that wrap mid-ring") << 9973 << 300;
        QTest::newRow("three times the ring, in chunks") << 3 * 64 * 1024 + 5 << 20;
    }
    void messages_arrive_whole_and_in_order() {
        QFETCH(int, bytes);
        QFETCH(int, count);
        auto reader = net::ShmRing::create(unique_name("order"), 64 * 1024);
        auto writer = net::ShmRing::open(reader.name());
        QVERIFY(writer);
        QVERIFY(reader.writer_attached());
        // The writer runs ahead until the ring is full and waits; positions wrap many times.
        std::thread writing([&] {
            for (int i = 0; i < count; ++i) writer->write(message(i, bytes));
        });
        for (int read = 0; read < count;) {
            auto got = reader.try_read();
            if (!got) continue;
            QVERIFY2(same(*got, message(read, bytes)), ("message " + std::to_string(read) + " differs").c_str());
            ++read;
        }
        writing.join();
        QVERIFY(!reader.try_read());
        QVERIFY(reader.empty());
    }

    void a_full_ring_waits_for_room_then_gives_up() {
        auto reader = net::ShmRing::create(unique_name("full"), 16 * 1024);
        auto writer = net::ShmRing::open(reader.name());
        QVERIFY(writer);
        int written = 0;
        std::string error;
        while (error.empty()) {
            error = error_of([&] { writer->write(message(written, 1000), std::chrono::milliseconds(20)); });
            if (error.starts_with("NO ERROR")) {
                error.clear();
                ++written;
            }
        }
        QVERIFY2(contains_all(error, {reader.name(), "made no room"}), error.c_str());
        QVERIFY(written >= 10 && written <= 16);
        QVERIFY(reader.try_read());  // one read makes room for one more
        QVERIFY(writer->write(message(written, 1000), std::chrono::milliseconds(20)));
    }

    void a_writer_learns_that_its_reader_died() {
        const std::string name = unique_name("dead-reader");
        int made[2], opened[2];  // child -> parent: ring made; parent -> child: ring opened
        QVERIFY(pipe(made) == 0 && pipe(opened) == 0);
        const pid_t child = fork();
        if (child == 0) {
            auto ring = net::ShmRing::create(name, 16 * 1024);
            char one = 1;
            (void)!::write(made[1], &one, 1);
            (void)!::read(opened[0], &one, 1);
            _exit(0);  // as if killed: nothing closes the ring
        }
        char one = 0;
        QVERIFY(::read(made[0], &one, 1) == 1);
        auto writer = net::ShmRing::open(name);
        QVERIFY(writer);
        (void)!::write(opened[1], &one, 1);
        waitpid(child, nullptr, 0);
        // The dead reader's segment is swept, as a worker does when it starts.
        QVERIFY(net::ShmRing::remove_orphans() >= 1);
        QVERIFY(!net::ShmRing::open(name));
        const std::string error = error_of([&] {
            for (int i = 0; i < 100; ++i) writer->write(message(i, 1000));
        });
        QVERIFY2(contains_all(error, {name, "process " + std::to_string(child), "is gone"}), error.c_str());
    }

    void the_reader_says_when_it_sleeps() {
        auto reader = net::ShmRing::create(unique_name("sleep"), 16 * 1024);
        auto writer = net::ShmRing::open(reader.name());
        QVERIFY(!writer->reader_sleeping());
        reader.set_reader_sleeping(true);
        QVERIFY(writer->write(message(1, 10)));
        QVERIFY(writer->reader_sleeping());  // so the writer rings the doorbell
        QVERIFY(!reader.empty());
        reader.set_reader_sleeping(false);
        QVERIFY(!writer->reader_sleeping());
    }

    void opening_refuses_what_is_not_our_ring() {
        QVERIFY(!net::ShmRing::open(unique_name("missing")));
        // A segment anyone may write, under the expected name: never used.
        const std::string name = unique_name("open-to-all");
        const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0666);
        QVERIFY(fd >= 0);
        fchmod(fd, 0666);
        QVERIFY(ftruncate(fd, 1 << 16) == 0);
        ::close(fd);
        QVERIFY(!net::ShmRing::open(name));
        shm_unlink(name.c_str());
        // Our own mode, but not a ring.
        const int fd2 = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        QVERIFY(ftruncate(fd2, 1 << 16) == 0);
        ::close(fd2);
        QVERIFY(!net::ShmRing::open(name));
        // And creating over an existing name is an error naming the segment.
        const std::string error = error_of([&] { net::ShmRing::create(name); });
        QVERIFY2(contains_all(error, {name, "cannot create"}), error.c_str());
        shm_unlink(name.c_str());
    }

    void a_closed_ring_refuses_writes() {
        auto writer = [] {
            auto reader = net::ShmRing::create(unique_name("close"), 16 * 1024);
            auto w = net::ShmRing::open(reader.name());
            w->write(message(1, 10));
            return std::move(*w);
        }();  // the reader is gone: its destructor closed the ring
        QVERIFY(writer.closed());
        QVERIFY(!writer.write(message(2, 10)));
    }

    void unlinking_keeps_both_ends_working() {
        auto reader = net::ShmRing::create(unique_name("unlink"), 16 * 1024);
        auto writer = net::ShmRing::open(reader.name());
        reader.unlink();
        QVERIFY(!net::ShmRing::open(reader.name()));
        QVERIFY(writer->write(message(7, 100)));
        auto got = reader.try_read();
        QVERIFY(got && same(*got, message(7, 100)));
    }

    // What a faulty writer could leave: the record header [record bytes,
    // flags, chunk bytes, message bytes] and the message's first words
    // [part count, first part length].
    void a_broken_ring_is_an_error_not_a_crash_data() {
        QTest::addColumn<QList<uint32_t>>("words");
        QTest::addColumn<QString>("expected");
        // The valid record: 40 bytes, first and last, a 24-byte message of one 16-byte part.
        QTest::newRow("record longer than written") << QList<uint32_t>{4096, 3, 24, 24, 1, 16} << "a record of 4096 bytes";
        QTest::newRow("record not 8-aligned") << QList<uint32_t>{20, 3, 4, 24, 1, 16} << "a record of 20 bytes";
        QTest::newRow("chunk past its record") << QList<uint32_t>{40, 3, 100, 24, 1, 16} << "a chunk of 100 bytes";
        QTest::newRow("chunk without a start") << QList<uint32_t>{40, 2, 24, 24, 1, 16} << "a chunk without the start";
        QTest::newRow("shorter than announced") << QList<uint32_t>{40, 3, 24, 30, 1, 16} << "24 bytes where 30 were announced";
        QTest::newRow("no parts") << QList<uint32_t>{40, 3, 24, 24, 0, 16} << "a message of 0 parts";
        QTest::newRow("too many parts") << QList<uint32_t>{40, 3, 24, 24, 99, 16} << "a message of 99 parts";
        QTest::newRow("part past its message") << QList<uint32_t>{40, 3, 24, 24, 1, 4000} << "a part of 4000 bytes past its message";
        QTest::newRow("parts short of their message") << QList<uint32_t>{40, 3, 24, 24, 1, 8} << "parts that do not fill";
        QTest::newRow("wrap-around past what was written (found by the fuzzer)")
            << QList<uint32_t>{0xFFFFFFFFu} << "a wrap-around past what was written";
    }
    void a_broken_ring_is_an_error_not_a_crash() {
        QFETCH(QList<uint32_t>, words);
        QFETCH(QString, expected);
        auto reader = net::ShmRing::create(unique_name("broken"), 16 * 1024);
        auto writer = net::ShmRing::open(reader.name());
        proto::Parts one;
        one.emplace_back("0123456789abcdef", 16);
        QVERIFY(writer->write(one));
        const int fd = shm_open(reader.name().c_str(), O_RDWR, 0);
        QVERIFY(fd >= 0);
        const std::size_t mapped = 4096 + 16 * 1024;
        auto* base = static_cast<unsigned char*>(mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        ::close(fd);
        for (int i = 0; i < words.size(); ++i) std::memcpy(base + 4096 + 4 * i, &words[i], 4);
        const std::string error = error_of([&] { reader.try_read(); });
        munmap(base, mapped);
        QVERIFY2(contains_all(error, {reader.name(), expected.toStdString(), "the writer broke the ring"}), error.c_str());
    }

    void another_process_reads_what_this_one_wrote() {
        auto reader = net::ShmRing::create(unique_name("fork"), 64 * 1024);
        const pid_t child = fork();
        if (child == 0) {
            auto writer = net::ShmRing::open(reader.name());
            if (!writer) _exit(2);
            try {
                for (int i = 0; i < 2000; ++i) writer->write(message(i, i % 10 == 9 ? 100000 : 3072));
            } catch (const Error&) {
                _exit(3);
            }
            _exit(0);
        }
        for (int i = 0; i < 2000;) {
            auto got = reader.try_read();
            if (!got) continue;
            QVERIFY2(same(*got, message(i, i % 10 == 9 ? 100000 : 3072)), ("message " + std::to_string(i) + " differs").c_str());
            ++i;
        }
        int status = 0;
        waitpid(child, &status, 0);
        QCOMPARE(WEXITSTATUS(status), 0);
    }

    void names_are_stable_and_distinct() {
        QCOMPARE(net::ring_name("run", "a", "b"), net::ring_name("run", "a", "b"));
        QVERIFY(net::ring_name("run", "a", "b") != net::ring_name("run", "b", "a"));
        QVERIFY(net::ring_name("run", "ab", "c") != net::ring_name("run", "a", "bc"));
        QVERIFY(net::ring_name("run", "a", "b").rfind("/distgpt-", 0) == 0);
    }
};

QTEST_GUILESS_MAIN(TestShmRing)
#include "test_shm_ring.moc"
