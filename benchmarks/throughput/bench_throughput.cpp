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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

struct Result
{
    double megabytesPerSecond = 0;
    qint64 notifications = 0;
};

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
    std::thread sender(sendAll, descriptor, total, chunk);
    loop.exec();
    const double seconds = double(timer.nsecsElapsed()) / 1e9;
    sender.join();
    ::close(descriptor);
    receiver->abort();
    QObject::disconnect(receiver, &QIODevice::readyRead, &loop, nullptr);
    if (received < total)
        qFatal("only %lld of %lld bytes arrived", received, total);
    result.megabytesPerSecond = double(total) / (1024.0 * 1024.0) / seconds;
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
    out << "receive throughput, loopback, " << megabytes << " MiB per round, " << rounds
        << " rounds each (median)\n";
    out << qSetFieldWidth(12) << Qt::left << "chunk"
        << "QTcpSocket"
        << "KeepAlive"
        << "ratio"
        << "notif/round" << qSetFieldWidth(0) << "\n";
    const qint64 total = qint64(megabytes) * 1024 * 1024;
    for (const int chunk : {65536, 512}) {
        std::vector<double> plain, keepAlive;
        qint64 notifications = 0;
        for (int round = 0; round < rounds; ++round) {
            QTcpSocket plainSocket;
            plain.push_back(measure(&plainSocket, total, chunk).megabytesPerSecond);
            KeepAliveSocket keepAliveSocket;
            const Result r = measure(&keepAliveSocket, total, chunk);
            keepAlive.push_back(r.megabytesPerSecond);
            notifications = r.notifications;
        }
        const double p = median(plain);
        const double k = median(keepAlive);
        out << qSetFieldWidth(12) << Qt::left << QStringLiteral("%1 B").arg(chunk)
            << QStringLiteral("%1 MB/s").arg(p, 0, 'f', 0)
            << QStringLiteral("%1 MB/s").arg(k, 0, 'f', 0) << QString::number(k / p, 'f', 3)
            << notifications << qSetFieldWidth(0) << "\n";
        out.flush();
    }
    return 0;
}
