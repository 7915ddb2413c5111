#!/usr/bin/perl
# A request body too big for httpd's temporary directory is this server's
# shortage, not a member's fault: the client gets 507, the error log says
# why, and every member stays in the rotation.  (A 500 from the handler
# made mod_proxy take the member out for its retry= - 30 s here - so any
# client could empty a balancer with big chunked uploads.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VfBal;

my $bed = VfBal->new(lbmethod => 'byrequests', health => undef);
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
# httpd's TMPDIR: a 256 KB tmpfs.
my $tmp = $bed->dir . '/tmp';
mkdir $tmp;
my ($rc, $out) = VfBal::run_cmd('mount', '-t', 'tmpfs', '-o', 'size=256k,mode=1777',
                                'vfbal-tmp', $tmp);
plan skip_all => "cannot mount a tmpfs: $out" if $rc;
END { system('umount', '-l', $tmp) if $tmp && -d $tmp }
{
    local $ENV{TMPDIR} = $tmp;
    eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");
}

# 1 MB, chunked: spooled to a temporary file, which cannot hold it.
my $body = $bed->dir . '/body';
VfBal::write_file($body, 'x' x (1 << 20));
my $elog = $bed->error_log_size;
($rc, $out) = VfBal::run_cmd('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
                             '-H', 'Transfer-Encoding: chunked',
                             '--data-binary', "\@$body", $bed->url('/who.php'));
is($out, '507', 'a body the temporary directory cannot hold: 507');
like(VfBal::slurp($bed->error_log, $elog),
     qr/AH10611: FastCGI: spooling the request body: writing the temporary file/,
     '... and the error log says why');

# Every member still answers: byrequests goes round all three.
my %seen;
for (1 .. 9) {
    ($rc, $out) = VfBal::run_cmd('curl', '-s', $bed->url('/who.php'));
    $seen{$1}++ if $out =~ /^member=(\d)/m;
}
is(join(',', sort keys %seen), '1,2,3', 'all three members stay in the rotation')
    or diag(explain \%seen);
my $st = $bed->backends('main');
is(scalar(grep { $st->{$_}{state} eq 'ok' } 1 .. 3), 3,
   'the status page shows the three members ok')
    or diag($bed->status_text('main'));
done_testing;
