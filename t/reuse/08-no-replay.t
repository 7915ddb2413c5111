# No replay of a request the backend has read.  When the backend closes a
# kept connection after it read the whole request, without a byte of
# answer (a script that died without output, a worker killed at
# request_terminate_timeout), it may have run the request.  A POST then
# gets 502, the error log says why (AH10722), and the backend started it
# once: it is not sent again on a new connection.  A GET in the same
# situation is retried on a new connection (methods safe to run twice
# are, as nginx does; AH10641 at debug level), so the backend starts it
# twice.
#
# vf_reuse_mb: fcgi-misbehave as a URL pool (max=4) that keeps its
# connections.  On one client connection (so one httpd child), a GET
# first leaves a kept backend connection idle in that child; the next
# request on the client connection takes it (the idle stack is LIFO), so
# it meets the close on a reused connection.  Scenarios: close-now reads
# the request and closes at once; silent?ms=1000 reads it, holds the
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

# [method, path, times the backend starts it, what the log says]
my @cases = (
    ['POST', '/mbh/close-now.php',      1, qr/AH10722: FastCGI backend \S+ closed a reused connection after reading the request, without answering; not retried: POST is not safe to run twice/],
    ['POST', '/mbh/silent.php?ms=1000', 1, qr/AH10722: .*not retried: POST is not safe to run twice/],
    ['GET',  '/mbh/close-now.php',      2, qr/AH10641: FastCGI backend \S+ closed a reused connection before answering; the request can be retried/],
);
plan tests => 5 * @cases;

sub begun {
    my ($res, $s) = get_env('vf_reuse_mb', '/mbh/stats.php');
    return $res->{status} == 200 ? $s->{begun} : undef;
}

for my $case (@cases) {
    my ($method, $path, $times, $log_re) = @$case;
    my $what = "$method $path on a reused connection";
    my $sock = raw_connect('vf_reuse_mb');

    my $warm = send_request($sock, 'GET', '/mbh/hello.php', timeout => 30);
    is($warm->{status}, 200, "$what: the GET before it, on the same client connection, got 200");

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
    is($started, $times, "$what: the backend started it "
                         . ($times == 1 ? 'once (not replayed)' : 'twice (retried)'));
    my $log = log_wait_for($mark, $log_re, 5);
    ok($log, "$what: the error log says " . ($times == 1 ? 'it was not retried' : 'it was retried'))
        or diag(join "\n", grep { /vhostfcgi|FastCGI|AH1/ && !/trace/ } split /\n/, log_since($mark));
    if ($times == 1) {
        unlike(log_since($mark), qr/AH10641/, "$what: and not that it can be retried");
    }
    else {
        unlike(log_since($mark), qr/AH10722/, "$what: and not that it was refused a retry");
    }
}
