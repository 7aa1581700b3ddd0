function idx = knnsearch(X, Y, varargin)
% Brute-force stand-in for MATLAB's knnsearch(X, Y, 'k', k), which Octave lacks: the k
% nearest rows of X for each row of Y by the squared distance summed over the columns left
% to right, ties broken by the lower index (a stable sort).
k = varargin{2};
n = size(Y, 1);
idx = zeros(n, min(k, size(X, 1)));
block = 400;
for s = 1:block:n
  e = min(s + block - 1, n);
  d = zeros(size(X, 1), e - s + 1);
  for c = 1:size(X, 2)
    d = d + (X(:, c) - Y(s:e, c)') .^ 2;
  end
  [~, order] = sort(d, 1);
  idx(s:e, :) = order(1:size(idx, 2), :)';
end
end
