// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include <KeepAliveOptions>
#include <KeepAliveSocket>

#include <QtCore/QList>
#include <QtCore/QString>

#include <chrono>
#include <functional>
#include <optional>

//! What happens to the server's end of every connection of a scenario.
enum class Scenario {
    Idle,  //!< the peer falls silent (a pulled cable, a powered-off host)
    Busy,  //!< the peer falls silent, then each client sends a few bytes
    Reset, //!< the peer sends a RST (its process crashed, its host is still up)
    Close, //!< the peer closes in an orderly way (FIN), for comparison with Reset
};

//! The three clients connected side by side in every scenario.
enum class ClientKind {
    Plain,     //!< QTcpSocket as it comes
    ByHand,    //!< QTcpSocket with KeepAliveOption and TCP_KEEPIDLE/INTVL/CNT set with setsockopt()
               //!< (on Windows: SIO_KEEPALIVE_VALS set with WSAIoctl())
    KeepAlive, //!< KeepAliveSocket with the same idle, interval and count
};

QString scenarioName(Scenario scenario);
//! One line on what the scenario does to the peers.
QString scenarioDescription(Scenario scenario);
//! The scenario named \a name ("idle", "busy", "reset", "close"), if any.
std::optional<Scenario> scenarioFromName(const QString &name);
QList<Scenario> allScenarios();

QString clientName(ClientKind kind);
QList<ClientKind> allClients();

//! Seconds with two decimals, e.g. "5.07".
QString formatSeconds(std::chrono::milliseconds value);

//! The DeadPeerReason KeepAliveSocket should report; None for Close (no deadPeer() expected).
KeepAliveSocket::DeadPeerReason expectedReason(Scenario scenario);

/*!
    Whether this platform bounds how long data may stay unacknowledged on
    one connection (a user timeout: TCP_USER_TIMEOUT, TCP_MAXRT). Where it
    does not (Windows under Wine refuses TCP_MAXRT), no client notices the
    busy scenario before the system's own retransmission limit.
*/
bool dataInFlightBounded();

struct DemoSettings
{
    //! Idle, interval and count for both keepalive clients; KeepAliveSocket also gets the
    //! automatic user timeout.
    KeepAliveOptions options;
    //! How long each scenario waits for the clients to notice.
    std::chrono::seconds wait{0};
    QList<Scenario> scenarios;
    /*!
        Where the peers are. Empty: the server's ends in this process, made
        silent with a Linux socket filter. "HOST:PORT": the control channel
        of tests/auto/crossfaults/peerhelper.py, whose peer is a Linux
        process in a network namespace (its link goes down, its socket is
        reset or closed); the way to run every scenario on Windows, under
        Wine, where no socket filter exists.
    */
    QString peerControl;
};

//! What one client noticed in one scenario.
struct Observation
{
    ClientKind client = ClientKind::Plain;
    Scenario scenario = Scenario::Idle;
    //! Time from the peer's death to the client's first signal; empty if it never came.
    std::optional<std::chrono::milliseconds> detectedAfter;
    //! The reason as the client reports it (enum name and errorString()).
    QString reason;
    //! KeepAliveSocket only: the reason passed to deadPeer(), None if it was not emitted.
    KeepAliveSocket::DeadPeerReason deadPeerReason = KeepAliveSocket::DeadPeerReason::None;
    //! Whether the client saw disconnected() within the wait.
    bool disconnected = false;
};

struct DemoResult
{
    QList<Observation> observations;
    //! Set when a scenario could not be prepared; the observations then stop there.
    QString error;
    //! Scenarios this platform cannot stage, each with the reason.
    QList<QPair<Scenario, QString>> notApplicable;
};

/*!
    Starts a QTcpServer on 127.0.0.1 (port 0), or sets up a peer through
    settings.peerControl, and runs settings.scenarios one after the other,
    each with three fresh connections. \a progress receives
    a line for every step and every detection as it happens. Needs a running
    QCoreApplication.
*/
DemoResult runDemo(const DemoSettings &settings,
                   const std::function<void(const QString &)> &progress);
