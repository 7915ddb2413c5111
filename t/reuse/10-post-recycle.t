# A backend recycling its workers never costs a POST an error.  DESIGN
# (Connection reuse): a pooled connection the backend closed (php-fpm
# recycling a worker after max_requests, ...) "is retried once on a fresh
# connection when nothing of the request was consumed — the client never
# sees it".  That holds for requests of any method: a recycled worker
# closes right after its END_REQUEST and never starts the request that
# met the close (php-fpm drains it and closes; fcgi-misbehave -c 3 too).
#
# 10 clients, 30 small POSTs each on a kept client connection, to
#   vf_reuse_mbclose  fcgi-misbehave -c 3 (closes every connection after
#                     3 requests); its begun counter (/mbh/stats.php) says
#                     how many POSTs it started
#   vf_reuse_fpm      php-fpm, pool "reuse": 2 workers, pm.max_requests 5
# All 300 get 200; fcgi-misbehave started each exactly once (300).
#
# 65156ed fails this (some 1-12 % of the POSTs get 502, AH10722 "not
# retried: POST is not safe to run twice", though the backend never
# started them: begun is the number of 200s); 8f3bcc1 passes.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use POSIX ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built (make tools)'
    unless misbehave_available() && $ENV{VF_MB_CLOSE_SOCK};
plan tests => 3 + 1;

use constant { CLIENTS => 10, EACH => 30 };

# CLIENTS processes, EACH POSTs each on one kept client connection (a new
# one when httpd closes it); returns {status => count}.
sub post_load {
    my ($vhost, $path) = @_;
    my @kids;
    for my $c (1 .. CLIENTS) {
        pipe my $r, my $w or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $r;
            my %st;
            my $sock;
            for my $i (1 .. EACH) {
                my $res = eval {
                    $sock //= raw_connect($vhost);
                    send_request($sock, 'POST', $path, body => "c=$c&i=$i", timeout => 30,
                        headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
                };
                my $status = $res && $res->{status} ? $res->{status} : 'none';
                $st{$status}++;
                if (!$res || !$res->{status} || $res->{eof}
                    || ($res->{header}{connection} // '') =~ /close/i) {
                    close $sock if $sock;
                    undef $sock;
                }
            }
            print $w join(' ', map { "$_=$st{$_}" } keys %st), "\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my %total;
    for my $k (@kids) {
        my ($pid, $r) = @$k;
        my $line = <$r> // '';
        close $r;
        waitpid $pid, 0;
        $total{$1} += $2 while $line =~ /(\S+)=(\d+)/g;
    }
    return \%total;
}

sub summary { my $t = shift; join ', ', map { "$_: $t->{$_}" } sort keys %$t }

# --- fcgi-misbehave -c 3 ----------------------------------------------------
{
    my ($r0, $s0) = get_env('vf_reuse_mbclose', '/mbh/stats.php');
    my $mark = log_mark();
    my $t = post_load('vf_reuse_mbclose', '/mbh/hello.php');
    my ($r1, $s1) = get_env('vf_reuse_mbclose', '/mbh/stats.php');
    diag('fcgi-misbehave -c 3, ' . CLIENTS * EACH . ' POSTs: ' . summary($t));
    is($t->{200} // 0, CLIENTS * EACH, 'backend closing after every 3 requests: every POST got 200')
        or diag(join "\n", (grep { /AH10\d\d\d/ } split /\n/, log_since($mark))[0 .. 5]);
    # (the second stats request counts itself)
    my $started = defined $s0->{begun} && defined $s1->{begun} ? $s1->{begun} - $s0->{begun} - 1 : -1;
    is($started, CLIENTS * EACH, 'the backend started each POST exactly once');
    ok($started - ($t->{200} // 0) >= ($t->{502} // 0),
       'no POST got 502 that the backend never started')
        or diag(sprintf '%d got 502, the backend started %d beyond the 200s',
                        $t->{502}, $started - ($t->{200} // 0));
}

# --- php-fpm, pm.max_requests 5 ---------------------------------------------
{
    my $mark = log_mark();
    my $t = post_load('vf_reuse_fpm', '/reuse/hello.php');
    diag('php-fpm pm.max_requests 5, ' . CLIENTS * EACH . ' POSTs: ' . summary($t));
    is($t->{200} // 0, CLIENTS * EACH, 'php-fpm recycling workers (pm.max_requests 5): every POST got 200')
        or diag(join "\n", (grep { /AH10\d\d\d/ } split /\n/, log_since($mark))[0 .. 5]);
}
