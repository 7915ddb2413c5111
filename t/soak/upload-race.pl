#!/usr/bin/perl
# Reproduces what `make soak` reports as failures no kill explains: a POST
# whose body httpd streams (more than the 64 KB it reads ahead) fails with
# 502 when it is sent on a pooled connection whose php-cgi worker is about
# to exit - after pm.max_requests, or after the spawner's SIGTERM when a
# reload retires it - because by the time the connection turns out dead,
# part of the body was read from the client and the request cannot be
# retried.  Smaller bodies are retried and never fail.
#
#   perl t/soak/upload-race.pl reload  [BODY_BYTES [SECONDS]]
#   perl t/soak/upload-race.pl recycle [BODY_BYTES [SECONDS]]
#   perl t/soak/upload-race.pl none    [BODY_BYTES [SECONDS]]
#
# reload: a static pool of 2 php-cgi workers, the spawner reloaded every
# second with a changed setting; recycle: pm.max_requests = 3; none: no
# recycling, no reload (the control).  Two clients POST BODY_BYTES
# (default 300000) back to back on keep-alive connections for SECONDS
# (default 20).  Exits 1 if a request failed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::MD5 qw(md5_hex);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSoak;

my ($mode, $size, $secs) = @ARGV;
$mode //= 'reload';
$size //= 300_000;
$secs //= 20;
die "usage: $0 reload|recycle|none [BODY_BYTES [SECONDS]]\n"
    unless $mode =~ /^(reload|recycle|none)$/;
die "run as root\n" if $>;

ensure_user($_) for $VFSoak::WEB, $VFSoak::POOL_USERS[0];
my $dir = test_dir('vfrace');
my $bins = snapshot_bins($dir);
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/post.php",
           '<?php $in = file_get_contents("php://input"); '
           . 'echo strlen($in), " ", md5($in), "\n";');
sub pools {
    my ($gen) = @_;
    my $mr = $mode eq 'recycle' ? 3 : 0;
    return <<EOC;
[global]
run_dir = $dir/run
error_log = $dir/logs/spawn.log

[p]
command = /usr/bin/php-cgi8.2
user = $VFSoak::POOL_USERS[0]
listen.owner = $VFSoak::WEB
listen.group = $VFSoak::WEB
listen.mode = 0660
pm = static
pm.max_children = 2
pm.max_requests = $mr
env[GEN] = $gen
env[SOAK_POOL] = p
EOC
}
my $h = httpd_start(dir => $dir, bins => $bins, pools => pools('A'),
                    spawner => 1,
                    vhosts => [{ name => 'p.test', root => "$dir/www",
                                 pool => 'p' }]);
sleep 1;
my @kids;
for my $n (1, 2) {
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        close $r;
        my $c = VFSoak::Client->new(port => $h->{port});
        my $body = join '', map { chr(65 + $_ % 26) } 1 .. $size;
        my $want = "$size " . md5_hex($body) . "\n";
        my ($sent, $bad) = (0, 0);
        my $end = time + $secs;
        while (time < $end) {
            my $res = $c->request(host => 'p.test', path => '/post.php',
                                  body => $body);
            $sent++;
            next if $res->{complete} && $res->{status} == 200
                    && $res->{body} eq $want;
            $bad++;
            $c->close;
        }
        print $w "$sent $bad\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    push @kids, [$pid, $r];
}
my ($gen, $reloads) = ('A', 0);
my $end = time + $secs;
while (time < $end) {
    sleep 1;
    next unless $mode eq 'reload';
    $gen = $gen eq 'A' ? 'B' : 'A';
    write_file($h->{pools_file}, pools($gen));
    kill 'HUP', spawner_of($h);
    $reloads++;
}
my ($sent, $bad) = (0, 0);
for my $k (@kids) {
    my $fh = $k->[1];
    my ($s, $b) = split ' ', (<$fh> // '0 0');
    waitpid($k->[0], 0);
    $sent += $s;
    $bad += $b;
}
my $st = (status_json($h, 'p.test') || {})->{p} || {};
my @lines = grep { /\[\w*:?error\]/ } split /\n/, read_file($h->{errlog});
printf "%s, %d-byte POSTs, %ds: %d reloads; %d requests, %d failed; pool: "
     . "reused %d, retried %d, bad_gateway %d\n", $mode, $size, $secs,
     $reloads, $sent, $bad, $st->{reused} // -1, $st->{retried} // -1,
     $st->{errors}{bad_gateway} // -1;
print "first error-log line: ", ($lines[0] // '(none)') =~ s/^.*?\] \(/(/r,
    "\n";
httpd_stop($h);
exit($bad ? 1 : 0);
