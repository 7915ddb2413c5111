# No replay of a request the backend has read.  When the backend closes a
# connection after it read the whole request, without a byte of answer (a
# script that died without output, a worker killed at
# request_terminate_timeout), it may have run the request.
#  - Through a pool, a POST never rides on a kept connection (a close
#    cannot tell a recycled worker from a script that died): it gets a new
#    one, so it meets the close there, gets 502, and the backend started
#    it once.
#  - A GET on a kept connection of a pool is retried on a new connection
#    (methods safe to run twice are, as nginx does; AH10641 at debug
#    level), so the backend starts it twice.
#  - Through mod_proxy's own connections (ProxyPass ... enablereuse=on,
#    served by this module as mod_proxy_fcgi's replacement) the same: a
#    POST's kept connection is closed and a new one opened (it met the
#    close and was not retried, AH10722, before); a GET is retried as
#    through a pool.
#  - A reset is no better proof than a close: a worker killed while its
#    script ran, STDIN unread, resets the connection (reset-early, over
#    TCP).  A POST there was retried and ran twice; now it is started
#    once, and a GET is retried.
#
# vf_reuse_mb: fcgi-misbehave as a URL pool (max=4) that keeps its
# connections.  On one
# client connection (so one httpd child), a GET first leaves a kept
# backend connection idle in that child; the next request on the client
# connection takes it (the idle stack is LIFO).  Scenarios: close-now
# reads the request and closes at once; silent?ms=1000 reads it, holds the
# connection 1 s and closes.  The backend's "begun" counter
# (/mbh/stats.php, BEGIN_REQUEST records received) says how often it
# started the request.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built (make tools)'
    unless misbehave_available() && $ENV{VF_MB_REUSE_SOCK};

# [vhost, method, path, times the backend starts it, what the log says,
#  what it must not say]
my $closed = qr/AH10640: FastCGI backend \S+ .*the backend closed the connection without answering/;
my @cases = (
    ['vf_reuse_mb', 'POST', '/mbh/close-now.php',      1, $closed, qr/AH1064[1]|AH10722/],
    ['vf_reuse_mb', 'POST', '/mbh/silent.php?ms=1000', 1, $closed, qr/AH1064[1]|AH10722/],
    ['vf_reuse_mb', 'GET',  '/mbh/close-now.php',      2,
     qr/AH10641: FastCGI backend \S+ closed a reused connection before answering; the request can be retried/,
     qr/AH10722/],
    ['vf_reuse_mb_dropin', 'POST', '/mbh/close-now.php', 1, $closed,
     qr/AH1064[1]|AH10722/],
    ['vf_reuse_mb_dropin', 'GET', '/mbh/close-now.php', 2,
     qr/AH10641: FastCGI backend \S+ closed a reused connection before answering; the request can be retried/,
     qr/AH10722/],
    ['vf_reuse_mbtcp_dropin', 'POST', '/mbh/reset-early.php', 1,
     qr/AH10640: FastCGI backend \S+ /, qr/AH1064[1]|AH10722/],
    ['vf_reuse_mbtcp_dropin', 'GET', '/mbh/reset-early.php', 2,
     qr/AH10641: FastCGI backend \S+ closed a reused connection before answering; the request can be retried/,
     qr/AH10722/],
);
plan tests => 5 * @cases;

# BEGIN_REQUEST records the backend received: the Unix instance's, or the
# TCP one's (vf_reuse_mbtcp_dropin).
my $vhost_now;
sub begun {
    my $via = ($vhost_now // '') eq 'vf_reuse_mbtcp_dropin'
            ? 'vf_reuse_mbtcp_dropin' : 'vf_reuse_mb';
    my ($res, $s) = get_env($via, '/mbh/stats.php');
    return $res->{status} == 200 ? $s->{begun} : undef;
}

for my $case (@cases) {
    my ($vhost, $method, $path, $times, $log_re, $not_re) = @$case;
    my $what = "$vhost: $method $path after a GET on the same client connection";
    $vhost_now = $vhost;
    my $sock = raw_connect($vhost);

    my $warm = send_request($sock, 'GET', '/mbh/hello.php', timeout => 30);
    is($warm->{status}, 200, "$what: the GET before it got 200");

    my $b0 = begun();
    my $mark = log_mark();
    my $res = send_request($sock, $method, $path, timeout => 30,
        $method eq 'POST'
            ? (body => 'charge=100',
               headers => ['Content-Type' => 'application/x-www-form-urlencoded'])
            : ());
    close $sock;
    my $b1 = begun();
    # (the second stats request counts itself)
    my $started = defined $b0 && defined $b1 ? $b1 - $b0 - 1 : -1;

    is($res->{status}, 502, "$what: 502")
        or diag('got ' . ($res->{status} // 'no response'));
    if ($times == 2 && per_process_mpm() && $vhost eq 'vf_reuse_mb') {
        # The GET's own process may have closed its pool connection (it
        # makes way for other processes' connections), and then there is
        # nothing to retry.  (mod_proxy's own connections never make way.)
        ok($started == 1 || $started == 2,
           "$what: the backend started it once or twice ($started; " . PER_PROCESS_WHY . ')');
        $log_re = $closed if $started == 1;
    }
    else {
        is($started, $times, "$what: the backend started it "
                             . ($times == 1 ? 'once (not replayed)' : 'twice (retried)'));
    }
    my $log = log_wait_for($mark, $log_re, 5);
    ok($log, "$what: the error log says what happened")
        or diag(join "\n", grep { /vhostfcgi|FastCGI|AH1/ && !/trace/ } split /\n/, log_since($mark));
    unlike(log_since($mark), $not_re, "$what: and nothing contrary");
}
