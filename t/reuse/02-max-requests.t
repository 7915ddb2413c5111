# php-fpm pm = static, 2 children, pm.max_requests = 5 (pool "reuse" of
# the pools file, a named pool: VhostFcgiPool reuse, max = 2 from its
# pm.max_children; php-fpm master of its own).  Every worker exits after 5
# requests, closing the connection httpd keeps to it: 20 concurrent
# clients, 2,000 requests, zero non-200.  Again with a php-fpm reload
# (SIGUSR2 to the master) half-way through: zero non-200.  Each run must
# really have used kept connections (the module's status page counters),
# or a worker's exit would never meet one.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'no php-fpm "reuse" master (run-itest starts it)'
    unless $ENV{VF_FPM_REUSE_PIDFILE} && -s $ENV{VF_FPM_REUSE_PIDFILE};
plan tests => 2 + 4 + 7;

my $log = $ENV{VF_FPM_REUSE_LOG};
sub log_size { -s $log || 0 }
sub log_from { my $m = shift; open my $fh, '<', $log or return ''; seek $fh, $m, 0; local $/; <$fh> // '' }
sub master_pid { open my $fh, '<', $ENV{VF_FPM_REUSE_PIDFILE} or return; my $p = <$fh>; ($p // '') =~ /(\d+)/ ? $1 : undef }

# The runs must really ride on kept connections (else a worker's exit
# never meets a kept connection): with 5 requests per worker up to 4 in 5
# can reuse one; at least 1 in 10 must.  (The status page's counters.)
sub reuse_ok {
    my ($s0, $s1, $what) = @_;
    SKIP: {
        skip 'no status page (SetHandler vhostfcgi-status)', 1 unless $s0 && $s1;
        skip PER_PROCESS_WHY, 1 if per_process_mpm();
        my $req = $s1->{requests} - $s0->{requests};
        my $reused = $s1->{reused} - $s0->{reused};
        ok($req > 0 && $reused * 10 >= $req,
           "$what: the run reused kept connections ($reused of $req requests)");
    }
}

my $res = raw_request('vf_reuse_fpm', 'GET', '/reuse/hello.php');
is($res->{status}, 200, 'the reuse pool answers');
like($res->{body}, qr/^hello from pid \d+/, 'hello.php ran');

# --- 2,000 requests, workers recycled every 5 --------------------------------
my $mark = log_size();
my $st0 = pool_status('reuse');
my $r = VhostFcgi::Load::run(vhost => 'vf_reuse_fpm', path => '/reuse/hello.php',
                             clients => 20, requests => 2000, deadline => 100);
diag('pm.max_requests=5: ' . VhostFcgi::Load::summary($r));
is($r->{done}, 2000, 'every request answered');
is($r->{failed}, 0, '20 clients, 2,000 requests, workers recycled every 5: zero non-200')
    or diag(join "\n", @{ $r->{errors} });
my $started = () = log_from($mark) =~ /child \d+ started/g;
diag("php-fpm started $started workers meanwhile");
my $st1 = pool_status('reuse');
diag('module counters (status page): ' . VhostFcgi::Pools::status_delta($st0, $st1));
reuse_ok($st0, $st1, 'pm.max_requests 5');
cmp_ok($started, '>=', 100, 'php-fpm really recycled its workers (pm.max_requests 5)');

# --- the same with a reload in the middle -------------------------------------
my $pid = master_pid();
$mark = log_size();
my $reloaded_at;
$r = VhostFcgi::Load::run(vhost => 'vf_reuse_fpm', path => '/reuse/hello.php',
                          clients => 20, requests => 2000, deadline => 100,
                          at => [1000 => sub { $reloaded_at = time; kill 'USR2', $pid }]);
diag('reload (SIGUSR2) after 1,000 answers: ' . VhostFcgi::Load::summary($r));
my $st2 = pool_status('reuse');
diag('module counters (status page): ' . VhostFcgi::Pools::status_delta($st1, $st2));
reuse_ok($st1, $st2, 'with a reload');
ok($reloaded_at, 'SIGUSR2 was sent to the php-fpm master half-way');
is($r->{done}, 2000, 'with a reload: every request answered');
is($r->{failed}, 0, 'with a reload half-way: zero non-200')
    or diag(join "\n", @{ $r->{errors} });
# The reload did happen (and is over).
my $deadline = time + 15;
sleep 0.2 until log_from($mark) =~ /ready to handle connections/ || time > $deadline;
my $text = log_from($mark);
like($text, qr/Reloading in progress/, 'php-fpm logged the reload');
like($text, qr/ready to handle connections/, 'php-fpm came back after the reload');
$res = raw_request('vf_reuse_fpm', 'GET', '/reuse/hello.php');
is($res->{status}, 200, 'the pool answers after the reload');
note($_) for grep { /Reload|ready|reloading/i } split /\n/, $text;
