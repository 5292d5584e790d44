// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// Receive throughput of KeepAliveSocket against a plain QTcpSocket, in the
// same run, on a loopback stream: the cost of the library's pre-read look at
// every read notification on a healthy socket. A sender thread writes with
// blocking send() in chunks of the given size; the receiver under test runs
// in the main thread's event loop and reads everything. Rounds alternate
// between the two receivers so that machine noise hits both alike; the table
// gives the median MB/s of each and their ratio.

#include <KeepAliveSocket>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

struct Result
{
    double megabytesPerSecond = 0;
    double cpuNanosecondsPerMegabyte = 0;     // receiver thread only
    double cpuNanosecondsPerNotification = 0; // receiver thread only
    qint64 notifications = 0;
};

qint64 threadCpuNanoseconds()
{
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return qint64(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// Streams `total` bytes to the descriptor in `chunk`-sized send() calls.
void sendAll(int descriptor, qint64 total, int chunk)
{
    const int one = 1;
    ::setsockopt(descriptor, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Qt made the accepted socket non-blocking; this sender wants to block.
    ::fcntl(descriptor, F_SETFL, ::fcntl(descriptor, F_GETFL) & ~O_NONBLOCK);
    const std::vector<char> data(size_t(chunk), 'k');
    qint64 sent = 0;
    while (sent < total) {
        const ssize_t n = ::send(descriptor, data.data(),
                                 size_t(std::min<qint64>(chunk, total - sent)), MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += n;
    }
    ::shutdown(descriptor, SHUT_WR);
}

Result measure(QTcpSocket *receiver, qint64 total, int chunk)
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        qFatal("listen failed");
    receiver->connectToHost(QHostAddress::LocalHost, server.serverPort());
    if (!server.waitForNewConnection(5000) || !receiver->waitForConnected(5000))
        qFatal("connect failed");
    QTcpSocket *accepted = server.nextPendingConnection();
    const int descriptor = ::dup(int(accepted->socketDescriptor()));
    accepted->abort();

    Result result;
    qint64 received = 0;
    QEventLoop loop;
    QObject::connect(receiver, &QIODevice::readyRead, &loop, [&] {
        ++result.notifications;
        received += receiver->readAll().size();
        if (received >= total)
            loop.quit();
    });
    QTimer::singleShot(120000, &loop, [&] { loop.quit(); });

    QElapsedTimer timer;
    timer.start();
    const qint64 cpuBefore = threadCpuNanoseconds();
    std::thread sender(sendAll, descriptor, total, chunk);
    loop.exec();
    const double seconds = double(timer.nsecsElapsed()) / 1e9;
    const qint64 cpu = threadCpuNanoseconds() - cpuBefore;
    sender.join();
    ::close(descriptor);
    receiver->abort();
    QObject::disconnect(receiver, &QIODevice::readyRead, &loop, nullptr);
    if (received < total)
        qFatal("only %lld of %lld bytes arrived", received, total);
    result.megabytesPerSecond = double(total) / (1024.0 * 1024.0) / seconds;
    result.cpuNanosecondsPerMegabyte = double(cpu) / (double(total) / (1024.0 * 1024.0));
    result.cpuNanosecondsPerNotification =
            double(cpu) / double(std::max<qint64>(1, result.notifications));
    return result;
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
            "Receive throughput of KeepAliveSocket versus QTcpSocket on a loopback stream."));
    parser.addHelpOption();
    const QCommandLineOption megabytesOption(
            QStringLiteral("megabytes"), QStringLiteral("Bytes per round, in MiB (default 256)."),
            QStringLiteral("n"), QStringLiteral("256"));
    const QCommandLineOption roundsOption(
            QStringLiteral("rounds"),
            QStringLiteral("Rounds per receiver and chunk size (default 7)."), QStringLiteral("n"),
            QStringLiteral("7"));
    parser.addOption(megabytesOption);
    parser.addOption(roundsOption);
    parser.process(app);
    bool megabytesOk = false;
    bool roundsOk = false;
    const int megabytes = parser.value(megabytesOption).toInt(&megabytesOk);
    const int rounds = parser.value(roundsOption).toInt(&roundsOk);
    if (!megabytesOk || megabytes < 1 || megabytes > 65536 || !roundsOk || rounds < 1
        || rounds > 100) {
        QTextStream(stderr)
                << "bench_throughput: --megabytes must be 1..65536 and --rounds 1..100 (got "
                << parser.value(megabytesOption) << ", " << parser.value(roundsOption) << ")\n";
        return 2;
    }

    QTextStream out(stdout);
    out << "loopback stream, " << megabytes << " MiB per round, " << rounds
        << " rounds per receiver (medians); receiver CPU = the receiving thread's own CPU time\n";
    out << qSetFieldWidth(10) << Qt::left << "chunk" << qSetFieldWidth(22) << "QTcpSocket MB/s"
        << "KeepAliveSocket MB/s" << qSetFieldWidth(8) << "ratio" << qSetFieldWidth(24)
        << "receiver CPU us/MiB" << qSetFieldWidth(8) << "ratio" << qSetFieldWidth(24)
        << "CPU us/notification" << qSetFieldWidth(8) << "ratio" << qSetFieldWidth(0)
        << "notifications/round\n";
    const qint64 total = qint64(megabytes) * 1024 * 1024;
    for (const int chunk : {65536, 512}) {
        std::vector<double> plainRate, keepAliveRate, plainCpu, keepAliveCpu, plainPer,
                keepAlivePer;
        qint64 plainNotifications = 0;
        qint64 keepAliveNotifications = 0;
        for (int round = 0; round < rounds; ++round) {
            QTcpSocket plainSocket;
            const Result p = measure(&plainSocket, total, chunk);
            KeepAliveSocket keepAliveSocket;
            const Result k = measure(&keepAliveSocket, total, chunk);
            plainRate.push_back(p.megabytesPerSecond);
            keepAliveRate.push_back(k.megabytesPerSecond);
            plainCpu.push_back(p.cpuNanosecondsPerMegabyte);
            keepAliveCpu.push_back(k.cpuNanosecondsPerMegabyte);
            plainPer.push_back(p.cpuNanosecondsPerNotification);
            keepAlivePer.push_back(k.cpuNanosecondsPerNotification);
            plainNotifications = p.notifications;
            keepAliveNotifications = k.notifications;
        }
        const double pr = median(plainRate);
        const double kr = median(keepAliveRate);
        const double pc = median(plainCpu) / 1000.0;
        const double kc = median(keepAliveCpu) / 1000.0;
        const double pn = median(plainPer) / 1000.0;
        const double kn = median(keepAlivePer) / 1000.0;
        out << qSetFieldWidth(10) << Qt::left << QStringLiteral("%1 B").arg(chunk)
            << qSetFieldWidth(22) << QString::number(pr, 'f', 0) << QString::number(kr, 'f', 0)
            << qSetFieldWidth(8) << QString::number(kr / pr, 'f', 3) << qSetFieldWidth(24)
            << QStringLiteral("%1 / %2").arg(pc, 0, 'f', 0).arg(kc, 0, 'f', 0) << qSetFieldWidth(8)
            << QString::number(kc / pc, 'f', 3) << qSetFieldWidth(24)
            << QStringLiteral("%1 / %2").arg(pn, 0, 'f', 2).arg(kn, 0, 'f', 2) << qSetFieldWidth(8)
            << QString::number(kn / pn, 'f', 3) << qSetFieldWidth(0)
            << QStringLiteral("%1 / %2").arg(plainNotifications).arg(keepAliveNotifications)
            << "\n";
        out.flush();
    }
    return 0;
}
