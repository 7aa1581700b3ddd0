% LSSCDL.m (RSL-NEU/person-reid-benchmark, MetricLearning/SSSVM_REID/functions/) on small
% fixed inputs: entry i (column-major) of an r x c input with offset o is
% mod((i + o) * 37, 101) / 101.
% Usage: octave --eval "lsscdl_reference('<SSSVM_REID>/functions', '<out.mat>')"
function lsscdl_reference(functions_dir, out)
addpath(functions_dir);
fill = @(r, c, o) reshape(mod(((1:r*c) + o) * 37, 101) / 101, r, c);
X = fill(5, 7, 0); W = fill(4, 7, 11);
Dx = fill(5, 6, 23); Dw = fill(4, 6, 31); Ax = fill(6, 7, 43); Aw = fill(6, 7, 59);
par = struct('lambda1', 0.1, 'lambdac', 0.01, 'lambdam', 0.01, 'lambdad', 0.01, ...
             'nIter', 100, 'epsilon', 5e-3);
[Ax1, Aw1, ~, ~, Dx1, Dw1, Mx1, Mw1, f1] = LSSCDL(Ax, Aw, X, W, Dx, Dw, eye(6), eye(6), par);
par.nIter = 3; par.epsilon = 0;
[Ax3, Aw3, ~, ~, Dx3, Dw3, Mx3, Mw3, f3] = LSSCDL(Ax, Aw, X, W, Dx, Dw, eye(6), eye(6), par);
save('-v7', out, 'Ax1', 'Aw1', 'Dx1', 'Dw1', 'Mx1', 'Mw1', 'f1', ...
     'Ax3', 'Aw3', 'Dx3', 'Dw3', 'Mx3', 'Mw3', 'f3');
end
