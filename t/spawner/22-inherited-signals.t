#!/usr/bin/perl
# Started with signals ignored (nohup, a shell's background job, some
# supervisors leave SIGHUP, SIGINT, SIGCHLD ... at SIG_IGN, and that
# survives exec): the spawner still sees its workers die and replaces
# them (an ignored SIGCHLD would have the kernel reap them unseen), and
# its workers start with every signal at its default.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
my $wrap = write_file("$dir/ignoring", <<'EOW', 0755);
#!/usr/bin/perl
$SIG{$_} = 'IGNORE' for qw(HUP INT QUIT TERM CHLD USR1 USR2);
exec @ARGV or die "exec: $!";
EOW
my $conf = php_pools_conf($dir, p => [pm => 'static', 'pm.max_children' => 2]);

local $ENV{VF_SPAWN_WRAP} = $wrap;
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up under a parent that ignores signals') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'p') == 2 }, 5), '2 workers');

my ($w) = pool_workers($s, 'p');
my @ign = grep { sig_ignored($w, $_) } qw(HUP INT QUIT USR1 USR2 CHLD);
is("@ign", '', 'a worker ignores none of the signals its spawner\'s parent did');

kill 'KILL', $w;
ok(wait_for(sub { my @p = pool_workers($s, 'p'); @p == 2 && !grep { $_ == $w } @p }, 5),
   'a worker killed with -9 is seen and replaced');
like(log_text($s), qr/\[pool p\] worker $w killed by signal 9/, '... and logged');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();

# Whether $pid has signal $name at SIG_IGN (/proc/PID/status, SigIgn).
sub sig_ignored {
    my ($pid, $name) = @_;
    my %num = (HUP => 1, INT => 2, QUIT => 3, USR1 => 10, USR2 => 12,
               TERM => 15, CHLD => 17);
    open my $fh, '<', "/proc/$pid/status" or return 0;
    my ($mask) = join('', <$fh>) =~ /^SigIgn:\s*([0-9a-f]+)/m or return 0;
    return (hex(substr($mask, -8)) >> ($num{$name} - 1)) & 1;
}
