// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The smallest user of QtKeepAlive, built four ways by the packaging tests
// (installed CMake package, add_subdirectory(), qt_keepalive.pri, pkg-config;
// no Q_OBJECT, so no moc): connects a KeepAliveSocket to a server in the same
// process, checks that the kernel holds the idle time asked for and that data
// flows both ways. Prints "OK" and exits 0, or names what failed.

#include <KeepAliveOptions>
#include <KeepAliveSocket>

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>

#include <chrono>
#include <cstdio>
#include <functional>

// The generated version header comes with the library, whichever way it is consumed.
static_assert(QTKEEPALIVE_VERSION >= QTKEEPALIVE_VERSION_CHECK(0, 1, 0));
static_assert(QTKEEPALIVE_VERSION
              == QTKEEPALIVE_VERSION_CHECK(QTKEEPALIVE_VERSION_MAJOR, QTKEEPALIVE_VERSION_MINOR,
                                           QTKEEPALIVE_VERSION_PATCH));

using namespace std::chrono_literals;

namespace {

bool waitFor(const std::function<bool()> &condition, std::chrono::milliseconds timeout)
{
    const QDeadlineTimer deadline(timeout);
    QEventLoop loop;
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (condition() || deadline.hasExpired())
            loop.quit();
    });
    poll.start(10);
    if (!condition())
        loop.exec();
    return condition();
}

int fail(const QString &what)
{
    std::fprintf(stderr, "FAIL: %s\n", what.toLocal8Bit().constData());
    return 1;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);

    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return fail(QStringLiteral("cannot listen on 127.0.0.1: ") + server.errorString());

    const KeepAliveOptions options =
            KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);

    KeepAliveSocket socket;
    if (!socket.setKeepAliveOptions(options))
        return fail(QStringLiteral("options rejected: ") + socket.keepAliveErrorString());

    socket.connectToHost(QHostAddress::LocalHost, server.serverPort());
    if (!waitFor(
                [&] {
                    return socket.state() == QAbstractSocket::ConnectedState
                            && server.hasPendingConnections();
                },
                10s))
        return fail(QStringLiteral("not connected: ") + socket.errorString());
    QTcpSocket *peer = server.nextPendingConnection();

    if (socket.keepAliveOptions().idle() != 10s)
        return fail(QStringLiteral("keepAliveOptions() does not hold the idle time set"));

    // Only fields the platform can read back are checked against the kernel.
    if (KeepAliveOptions::readableFields().testFlag(KeepAliveOptions::Field::Idle)) {
        const bool held = waitFor(
                [&] {
                    return socket.effectiveKeepAliveOptions().idle
                            == std::optional<std::chrono::milliseconds>(10s);
                },
                5s);
        if (!held) {
            return fail(
                    QStringLiteral("kernel holds idle %1 ms instead of 10000 ms")
                            .arg(socket.effectiveKeepAliveOptions().idle.value_or(-1ms).count()));
        }
    }

    socket.write("ping");
    if (!waitFor([&] { return peer->bytesAvailable() >= 4; }, 5s) || peer->readAll() != "ping")
        return fail(QStringLiteral("the server did not receive \"ping\""));
    peer->write("pong");
    if (!waitFor([&] { return socket.bytesAvailable() >= 4; }, 5s) || socket.readAll() != "pong")
        return fail(QStringLiteral("the client did not receive \"pong\""));

    std::printf(
            "OK: QtKeepAlive %s, idle %lld ms held, data flows both ways\n",
            QTKEEPALIVE_VERSION_STR,
            static_cast<long long>(socket.effectiveKeepAliveOptions().idle.value_or(-1ms).count()));
    return 0;
}
